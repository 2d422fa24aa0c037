/**
 * Readers for the config and weights of each supported Keras layer class.
 * Each returns plain values in the graph's layouts (src/graph/spec.ts); the
 * mapper decides where they go. Keras and the graph share the weight layouts:
 * Conv2D kernels are [k, k, in, out], DepthwiseConv2D kernels [k, k, C, m]
 * (read flat as [k, k, C * m]) and Dense kernels [in, out].
 */
import type { Activation, BatchNorm, EdgePadding } from '../../graph/spec.js';
import { describeValue, TfjsFormatError } from './errors.js';
import { describeLayer, type KerasLayer } from './topology.js';
import type { WeightStore } from './weights.js';

/** An activation as Keras names it, with softmax, which only the classifier output may use. */
export type KerasActivation = Activation | 'softmax';

const ACTIVATION_NAMES: Readonly<Record<string, KerasActivation>> = {
  linear: 'linear',
  relu: 'relu',
  relu6: 'relu6',
  swish: 'swish',
  silu: 'swish',
  sigmoid: 'sigmoid',
  softmax: 'softmax',
  hard_swish: 'hardswish',
  hardswish: 'hardswish',
  hard_silu: 'hardswish',
};

export const SUPPORTED_ACTIVATIONS = 'linear, relu, relu6, swish (silu), sigmoid, hard_swish, and softmax on the last layer';

/** Epsilon of Keras's Normalization layer (keras.backend.epsilon()), the least divisor it uses for sqrt(variance). */
const KERAS_EPSILON = 1e-7;

/** Where the layer readers report errors and find weights. */
export class LayerContext {
  constructor(
    readonly source: string,
    readonly weights: WeightStore,
  ) {}

  /** An error for a valid layer that the graph cannot express. */
  unsupported(layer: KerasLayer, detail: string, next: string): TfjsFormatError {
    return new TfjsFormatError(`Unsupported TF.js model ${this.source}: ${describeLayer(layer)} ${detail}; ${next}`);
  }

  /** An error for a config field with an invalid value. */
  invalid(layer: KerasLayer, field: string, expected: string, actual: unknown): TfjsFormatError {
    return new TfjsFormatError(
      `Invalid TF.js model ${this.source}: config.${field} of ${describeLayer(layer)} must be ${expected}, ` +
        `but got ${describeValue(actual)}. Export the model again.`,
    );
  }
}

/** Reads an activation given by name, or (Keras 3) as a serialized function object. */
export function readActivation(context: LayerContext, layer: KerasLayer, value: unknown, field = 'activation'): KerasActivation {
  if (value === undefined || value === null) return 'linear';
  let name: unknown = value;
  if (typeof value === 'object' && !Array.isArray(value)) {
    const object = value as { config?: unknown; registered_name?: unknown; class_name?: unknown };
    const config = object.config;
    name = typeof config === 'string' ? config : (config as { name?: unknown } | undefined)?.name ?? object.registered_name ?? object.class_name;
  }
  if (typeof name !== 'string') throw context.invalid(layer, field, 'an activation name', value);
  const activation = ACTIVATION_NAMES[name.toLowerCase()];
  if (activation === undefined) {
    throw context.unsupported(layer, `uses the activation '${name}'`, `supported activations are ${SUPPORTED_ACTIVATIONS}.`);
  }
  return activation;
}

/** Reads the activation that an Activation or ReLU layer applies. */
export function readActivationLayer(context: LayerContext, layer: KerasLayer): KerasActivation {
  const config = layer.config;
  if (layer.className === 'Activation') return readActivation(context, layer, config.activation);
  const maxValue = config.max_value ?? null;
  const slope = config.negative_slope ?? config.alpha ?? 0;
  const threshold = config.threshold ?? 0;
  if (slope !== 0 || threshold !== 0) {
    throw context.unsupported(
      layer,
      `has negative_slope ${describeValue(slope)} and threshold ${describeValue(threshold)}`,
      'only ReLU with negative_slope 0 and threshold 0 is supported (optionally with max_value 6).',
    );
  }
  if (maxValue === null) return 'relu';
  if (maxValue === 6) return 'relu6';
  throw context.unsupported(layer, `has max_value ${describeValue(maxValue)}`, 'only ReLU without max_value (relu) or with max_value 6 (relu6) is supported.');
}

/** Rejects channels_first layers; the graph is NHWC. */
export function checkChannelsLast(context: LayerContext, layer: KerasLayer): void {
  const format = layer.config.data_format ?? 'channels_last';
  if (format !== 'channels_last') {
    throw context.unsupported(layer, `has data_format ${describeValue(format)}`, 'only channels_last (NHWC) models are supported.');
  }
}

/** Reads a square size given as one integer or [height, width]. */
function squareSize(context: LayerContext, layer: KerasLayer, field: string, fallback?: number): number {
  const value = layer.config[field] ?? fallback;
  const pair = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((n) => Number.isInteger(n) && n >= 1)) {
    throw context.invalid(layer, field, 'a positive integer or a pair of them', value);
  }
  if (pair[0] !== pair[1]) {
    throw context.unsupported(layer, `has ${field} [${pair}]`, `only square ${field} values are supported.`);
  }
  return pair[0];
}

function readPaddingMode(context: LayerContext, layer: KerasLayer): 'same' | 'valid' {
  const padding = layer.config.padding ?? 'valid';
  if (padding !== 'same' && padding !== 'valid') {
    throw context.unsupported(layer, `has padding ${describeValue(padding)}`, "only 'same' and 'valid' padding are supported.");
  }
  return padding;
}

function checkDilation(context: LayerContext, layer: KerasLayer): void {
  const dilation = squareSize(context, layer, 'dilation_rate', 1);
  if (dilation !== 1) throw context.unsupported(layer, `has dilation_rate ${dilation}`, 'only dilation_rate 1 is supported.');
}

function positiveInteger(context: LayerContext, layer: KerasLayer, field: string, fallback?: number): number {
  const value = layer.config[field] ?? fallback;
  if (!Number.isInteger(value) || (value as number) < 1) throw context.invalid(layer, field, 'a positive integer', value);
  return value as number;
}

/** A convolution as the file describes it, before padding layers and BatchNorm are merged in. */
export interface KerasConv {
  kernel: number;
  stride: number;
  padding: 'same' | 'valid';
  inChannels: number;
  outChannels: number;
  activation: KerasActivation;
  weight: Float32Array;
  bias: Float32Array | null;
}

/** Reads a Conv2D layer applied to `inChannels` channels. */
export function readConv2D(context: LayerContext, layer: KerasLayer, inChannels: number): KerasConv {
  checkChannelsLast(context, layer);
  checkDilation(context, layer);
  const groups = layer.config.groups ?? 1;
  if (groups !== 1) throw context.unsupported(layer, `has groups ${describeValue(groups)}`, 'only Conv2D with groups 1 is supported.');
  const kernel = squareSize(context, layer, 'kernel_size');
  const stride = squareSize(context, layer, 'strides', 1);
  const outChannels = positiveInteger(context, layer, 'filters');
  const useBias = layer.config.use_bias ?? true;
  return {
    kernel,
    stride,
    padding: readPaddingMode(context, layer),
    inChannels,
    outChannels,
    activation: readActivation(context, layer, layer.config.activation),
    weight: context.weights.read(layer, { names: ['kernel'], index: 0 }, [kernel, kernel, inChannels, outChannels]),
    bias: useBias ? context.weights.read(layer, { names: ['bias'], index: 1 }, [outChannels]) : null,
  };
}

/** Reads a DepthwiseConv2D layer applied to `channels` channels; its output has channels * depthMultiplier. */
export function readDepthwiseConv2D(context: LayerContext, layer: KerasLayer, channels: number): KerasConv & { depthMultiplier: number } {
  checkChannelsLast(context, layer);
  checkDilation(context, layer);
  const kernel = squareSize(context, layer, 'kernel_size');
  const stride = squareSize(context, layer, 'strides', 1);
  const depthMultiplier = positiveInteger(context, layer, 'depth_multiplier', 1);
  const outChannels = channels * depthMultiplier;
  const useBias = layer.config.use_bias ?? true;
  return {
    kernel,
    stride,
    padding: readPaddingMode(context, layer),
    inChannels: channels,
    outChannels,
    depthMultiplier,
    activation: readActivation(context, layer, layer.config.activation),
    // Keras 2 and tfjs-layers name the kernel depthwise_kernel; Keras 3 calls it kernel.
    weight: context.weights.read(layer, { names: ['depthwise_kernel', 'kernel'], index: 0 }, [kernel, kernel, channels, depthMultiplier]),
    bias: useBias ? context.weights.read(layer, { names: ['bias'], index: 1 }, [outChannels]) : null,
  };
}

/** A Dense layer: out = activation(in x weight + bias). */
export interface KerasDense {
  inChannels: number;
  outChannels: number;
  activation: KerasActivation;
  weight: Float32Array;
  bias: Float32Array | null;
}

/** Reads a Dense layer applied to a vector of `inChannels` values. */
export function readDense(context: LayerContext, layer: KerasLayer, inChannels: number): KerasDense {
  const outChannels = positiveInteger(context, layer, 'units');
  const useBias = layer.config.use_bias ?? true;
  return {
    inChannels,
    outChannels,
    activation: readActivation(context, layer, layer.config.activation),
    weight: context.weights.read(layer, { names: ['kernel'], index: 0 }, [inChannels, outChannels]),
    bias: useBias ? context.weights.read(layer, { names: ['bias'], index: 1 }, [outChannels]) : null,
  };
}

/** Returns true when an axis setting names the last (channel) axis of an NHWC tensor. */
function isChannelAxis(axis: unknown): boolean {
  const single = Array.isArray(axis) && axis.length === 1 ? axis[0] : axis;
  return single === -1 || single === 3;
}

/** Reads a BatchNormalization layer over `channels` channels, with ones for a missing gamma and zeros for a missing beta. */
export function readBatchNorm(context: LayerContext, layer: KerasLayer, channels: number): BatchNorm {
  const config = layer.config;
  const axis = config.axis ?? -1;
  if (!isChannelAxis(axis)) {
    throw context.unsupported(layer, `normalizes over axis ${describeValue(axis)}`, 'only BatchNormalization over the channel axis (-1 or 3) is supported.');
  }
  const epsilon = config.epsilon ?? 1e-3;
  if (typeof epsilon !== 'number' || !(epsilon >= 0)) throw context.invalid(layer, 'epsilon', 'a non-negative number', epsilon);
  const scale = config.scale ?? true;
  const center = config.center ?? true;
  // Keras creates the variables in the order gamma, beta, moving_mean, moving_variance, skipping the absent ones.
  let index = 0;
  const role = (name: string) => ({ names: [name], index: index++ });
  const gamma = scale ? context.weights.read(layer, role('gamma'), [channels]) : new Float32Array(channels).fill(1);
  const beta = center ? context.weights.read(layer, role('beta'), [channels]) : new Float32Array(channels);
  const mean = context.weights.read(layer, role('moving_mean'), [channels]);
  const variance = context.weights.read(layer, role('moving_variance'), [channels]);
  return { gamma, beta, mean, variance, epsilon };
}

/** Reads the explicit padding of a ZeroPadding2D layer. */
export function readZeroPadding(context: LayerContext, layer: KerasLayer): EdgePadding {
  checkChannelsLast(context, layer);
  const value = layer.config.padding ?? 1;
  const count = (n: unknown) => Number.isInteger(n) && (n as number) >= 0;
  if (count(value)) {
    const n = value as number;
    return { top: n, bottom: n, left: n, right: n };
  }
  if (Array.isArray(value) && value.length === 2) {
    const [rows, cols] = value;
    if (count(rows) && count(cols)) return { top: rows, bottom: rows, left: cols, right: cols };
    if (Array.isArray(rows) && Array.isArray(cols) && rows.length === 2 && cols.length === 2 && [...rows, ...cols].every(count)) {
      return { top: rows[0], bottom: rows[1], left: cols[0], right: cols[1] };
    }
  }
  throw context.invalid(layer, 'padding', 'n, [rows, cols] or [[top, bottom], [left, right]] of non-negative integers', value);
}

/** Per-channel affine map y = x * gain + offset of a preprocessing layer. */
export interface ChannelAffine {
  gain: number[];
  offset: number[];
}

/** Flattens a number, a nested list of numbers or a serialized Keras 3 array into a list, or returns null. */
function numbersOf(value: unknown): number[] | null {
  if (typeof value === 'number') return [value];
  if (Array.isArray(value)) {
    const parts = value.map(numbersOf);
    return parts.every((part) => part !== null) ? (parts as number[][]).flat() : null;
  }
  if (typeof value === 'object' && value !== null && 'config' in value) {
    const config = (value as { config?: unknown }).config;
    if (typeof config === 'object' && config !== null && 'value' in config) return numbersOf((config as { value: unknown }).value);
  }
  return null;
}

/** Spreads 1 value, or 1 per channel, over `channels` channels. */
function perChannel(context: LayerContext, layer: KerasLayer, field: string, values: number[], channels: number): number[] {
  if (values.length === 1) return new Array<number>(channels).fill(values[0]);
  if (values.length === channels) return values;
  throw context.unsupported(layer, `has ${values.length} ${field} values`, `a preprocessing layer before the stem needs 1 value or 1 per channel (${channels}).`);
}

/** Reads a Rescaling layer: y = x * scale + offset. */
export function readRescaling(context: LayerContext, layer: KerasLayer, channels: number): ChannelAffine {
  const scale = numbersOf(layer.config.scale ?? 1);
  const offset = numbersOf(layer.config.offset ?? 0);
  if (scale === null) throw context.invalid(layer, 'scale', 'a number or a list of numbers', layer.config.scale);
  if (offset === null) throw context.invalid(layer, 'offset', 'a number or a list of numbers', layer.config.offset);
  // Keras casts scale and offset to float32 before it applies them.
  return {
    gain: perChannel(context, layer, 'scale', scale, channels).map(Math.fround),
    offset: perChannel(context, layer, 'offset', offset, channels).map(Math.fround),
  };
}

/**
 * Reads a Normalization layer as Keras computes it: y = (x - mean) / max(sqrt(variance), 1e-7),
 * or with invert, y = mean + x * max(sqrt(variance), 1e-7). The statistics come from the config,
 * or from the layer's mean and variance weights (which Keras EfficientNet uses).
 */
export function readNormalization(context: LayerContext, layer: KerasLayer, channels: number): ChannelAffine {
  const config = layer.config;
  const axis = config.axis === undefined ? -1 : config.axis;
  if (axis !== null && !isChannelAxis(axis)) {
    throw context.unsupported(layer, `normalizes over axis ${describeValue(axis)}`, 'only Normalization over the channel axis (-1 or 3) or over all axes (null) is supported.');
  }
  let mean = config.mean === undefined || config.mean === null ? null : numbersOf(config.mean);
  let variance = config.variance === undefined || config.variance === null ? null : numbersOf(config.variance);
  if ((config.mean ?? null) !== null && mean === null) throw context.invalid(layer, 'mean', 'a number or a list of numbers', config.mean);
  if ((config.variance ?? null) !== null && variance === null) throw context.invalid(layer, 'variance', 'a number or a list of numbers', config.variance);
  if (mean === null || variance === null) {
    const meanRole = { names: ['mean'], index: 0 };
    const varianceRole = { names: ['variance'], index: 1 };
    if (!context.weights.has(layer, meanRole) || !context.weights.has(layer, varianceRole)) {
      throw new TfjsFormatError(
        `Missing Normalization statistics in ${context.source}: ${describeLayer(layer)} has no mean and variance in its config ` +
          `and the weights manifest has no '${layer.name}/mean' and '${layer.name}/variance' weights. ` +
          'Call adapt() or pass mean and variance to the layer before exporting the model.',
      );
    }
    // The statistics may be stored as [C] or in the broadcast shape [1, 1, 1, C], so any shape is read.
    mean = Array.from(context.weights.read(layer, meanRole, null));
    variance = Array.from(context.weights.read(layer, varianceRole, null));
  }
  const means = perChannel(context, layer, 'mean', mean, channels).map(Math.fround);
  const variances = perChannel(context, layer, 'variance', variance, channels).map(Math.fround);
  const invert = config.invert === true;
  const gain: number[] = [];
  const offset: number[] = [];
  for (let c = 0; c < channels; c++) {
    if (!(variances[c] >= 0)) {
      throw context.unsupported(layer, `has variance ${variances[c]} for channel ${c}`, 'a variance must be a non-negative number; adapt the layer again.');
    }
    // Keras computes the divisor in float32.
    const divisor = Math.max(Math.fround(Math.sqrt(variances[c])), KERAS_EPSILON);
    gain.push(invert ? divisor : 1 / divisor);
    offset.push(invert ? means[c] : -means[c] / divisor);
  }
  return { gain, offset };
}

/** Reads a GlobalAveragePooling2D or GlobalMaxPooling2D layer. */
export function readGlobalPool(context: LayerContext, layer: KerasLayer): { type: 'avg' | 'max'; keepdims: boolean } {
  checkChannelsLast(context, layer);
  const keepdims = layer.config.keepdims ?? false;
  if (typeof keepdims !== 'boolean') throw context.invalid(layer, 'keepdims', 'true or false', keepdims);
  return { type: layer.className === 'GlobalMaxPooling2D' ? 'max' : 'avg', keepdims };
}

/** Reads the target_shape of a Reshape layer (without the batch axis). */
export function readReshapeTarget(context: LayerContext, layer: KerasLayer): number[] {
  const target = layer.config.target_shape;
  if (!Array.isArray(target) || !target.every((dim) => dim === -1 || (Number.isInteger(dim) && dim >= 1))) {
    throw context.invalid(layer, 'target_shape', 'a list of positive integers (one may be -1)', target);
  }
  return target as number[];
}
