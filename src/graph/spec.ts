/**
 * The MBConv-family graph that every importer produces and the executor runs.
 *
 * Tensors are NHWC float32. Weight layouts:
 * - regular convolution: [kernel, kernel, inChannels, outChannels] (HWIO)
 * - depthwise convolution: [kernel, kernel, channels] (depth multiplier 1)
 * - pointwise convolution and dense: [inChannels, outChannels]
 * BatchNorm parameters stay separate in the spec and are folded into the
 * weights when a graph is compiled.
 */

export type Activation = 'linear' | 'relu' | 'relu6' | 'swish' | 'sigmoid' | 'hardswish';

/** Activation codes shared with the wasm kernels (assembly/shared/activation.ts). */
export const ACTIVATION_CODES: Readonly<Record<Activation, number>> = {
  linear: 0,
  relu: 1,
  relu6: 2,
  swish: 3,
  sigmoid: 4,
  hardswish: 5,
};

/** Explicit zero padding per edge, in pixels. */
export interface EdgePadding {
  top: number;
  bottom: number;
  left: number;
  right: number;
}

/**
 * 'same' is TensorFlow's SAME rule computed from each layer's own input size,
 * with the odd extra row or column at the bottom or right; 'valid' is no padding.
 */
export type Padding = 'same' | 'valid' | EdgePadding;

/** Affine quantization grid of one tensor: real = (q - zeroPoint) * scale, q in [qmin, qmax]. */
export interface QuantGrid {
  scale: number;
  zeroPoint: number;
  qmin: number;
  qmax: number;
}

export interface BatchNorm {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

/** A k x k convolution over all input channels (the stem). */
export interface ConvLayer {
  kernel: number;
  stride: number;
  padding: Padding;
  inChannels: number;
  outChannels: number;
  activation: Activation;
  /** [kernel, kernel, inChannels, outChannels] */
  weight: Float32Array;
  /** [outChannels], or null for no bias. */
  bias: Float32Array | null;
  batchNorm?: BatchNorm;
  /** Grid of the layer output (after the activation), for quantized models. */
  outputGrid?: QuantGrid;
  /** Scales of integer-quantized weights, one per output channel or one for all. */
  weightScales?: Float32Array;
}

/**
 * A depthwise k x k convolution. With a depth multiplier m, input channel c
 * feeds output channels c*m .. c*m + m - 1, so the output has channels * m.
 */
export interface DepthwiseLayer {
  kernel: number;
  stride: number;
  padding: Padding;
  /** Input channels. */
  channels: number;
  /** Outputs per input channel; 1 when absent. */
  depthMultiplier?: number;
  activation: Activation;
  /** [kernel, kernel, channels * depthMultiplier] (Keras's [k, k, C, m] flattened) */
  weight: Float32Array;
  bias: Float32Array | null;
  batchNorm?: BatchNorm;
  outputGrid?: QuantGrid;
  /** Scales of integer-quantized weights, one per output channel or one for all. */
  weightScales?: Float32Array;
}

/** A 1x1 convolution or a dense layer: out = act(in x weight + bias). */
export interface PointwiseLayer {
  inChannels: number;
  outChannels: number;
  activation: Activation;
  /** [inChannels, outChannels] */
  weight: Float32Array;
  bias: Float32Array | null;
  batchNorm?: BatchNorm;
  outputGrid?: QuantGrid;
  /** Scales of integer-quantized weights, one per output channel or one for all. */
  weightScales?: Float32Array;
}

/**
 * Squeeze-and-excite: global average pool of the depthwise output, a reducing
 * 1x1 conv, an expanding 1x1 conv with sigmoid, then a per-channel scale.
 */
export interface SqueezeExcite {
  reduce: PointwiseLayer;
  expand: PointwiseLayer;
}

/** Inverted residual block: [expand 1x1] -> depthwise -> [SE] -> project 1x1 -> [+ input]. */
export interface MBConvBlock {
  inChannels: number;
  outChannels: number;
  /** Null when the expand ratio is 1. */
  expand: PointwiseLayer | null;
  depthwise: DepthwiseLayer;
  se: SqueezeExcite | null;
  project: PointwiseLayer;
  /** Adds the block input to the projection output (needs stride 1 and inChannels == outChannels). */
  residual: boolean;
  /** Grid of the residual sum, for quantized models. */
  residualGrid?: QuantGrid;
}

export interface PoolLayer {
  type: 'avg' | 'max';
  outputGrid?: QuantGrid;
}

export interface Classifier extends PointwiseLayer {
  /** 'softmax' is applied after the activation-free dense layer. */
  output: 'softmax' | 'logits';
  /** Grid of the logits before softmax, for quantized models. */
  logitsGrid?: QuantGrid;
}

export interface Graph {
  /** Fixed input size, or null for a model that accepts any size. */
  inputHeight: number | null;
  inputWidth: number | null;
  inputChannels: number;
  /** Grid of the model input, for quantized models. */
  inputGrid?: QuantGrid;
  stem: ConvLayer;
  blocks: MBConvBlock[];
  /** The 1x1 head conv before pooling, or null. */
  head: PointwiseLayer | null;
  /** Null for a feature-map output. */
  pool: PoolLayer | null;
  /** Dense layers between the pool and the classifier (a transfer-learned head), in order. */
  hidden?: PointwiseLayer[];
  /** Null for an embedding output (the pooled features). */
  classifier: Classifier | null;
}

/** How 0-255 RGB pixel values become model input: (pixel - mean) / std per channel. */
export interface Normalization {
  mean: [number, number, number];
  std: [number, number, number];
}

/**
 * What predict() takes: 'pixels' for a model whose own input is 0-255 pixel
 * values (integer TFLite models, Keras models with Rescaling/Normalization
 * layers), which predict() then normalizes; 'normalized' for a model whose input
 * is already normalized.
 */
export type InputSpace = 'pixels' | 'normalized';

/** Everything an importer returns: the graph plus what a user needs to run it. */
export interface ModelDescription {
  name: string;
  format: 'tflite' | 'tfjs' | 'efficientnet-wasm' | 'builtin';
  graph: Graph;
  labels: string[] | null;
  normalization: Normalization;
  /** What predict() takes; 'normalized' when absent. */
  inputSpace?: InputSpace;
  /**
   * True when the file does not state how its input is normalized, so
   * `normalization` is the importer's assumption. LoadModelOptions.normalization replaces it.
   */
  normalizationAssumed?: boolean;
  /** True when the weights came from an integer-quantized file. */
  quantized: boolean;
  /** Grid of the final output (after softmax), for quantized models. */
  outputGrid?: QuantGrid;
}
