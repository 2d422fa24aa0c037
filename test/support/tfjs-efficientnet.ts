/**
 * Builds a TensorFlow.js LayersModel from a Graph with the same weights, in
 * the layer order of tf.keras.applications.EfficientNetB0: every convolution
 * without bias, then BatchNormalization with the spec's epsilon, then the
 * activation. BatchNorm stays unfolded, so the model is an independent
 * reference for the executor, which folds it at load time.
 *
 * Layer names are the weight-name prefixes of buildGraph in
 * src/graph/configs.ts (stem_conv, stem_bn, block3_expand, block3_dwconv_bn,
 * block3_se_reduce, top_conv, predictions), so an error names the same layer
 * on both sides.
 */
import * as tf from '@tensorflow/tfjs';
import type {
  Activation,
  BatchNorm,
  ConvLayer,
  DepthwiseLayer,
  Graph,
  MBConvBlock,
  Padding,
  PointwiseLayer,
} from '../../src/graph/spec.js';

/**
 * Hard swish, x * relu6(x + 3) / 6. tfjs-layers 4.22 has no such activation,
 * and its 'hardSigmoid' is clip(0.2 * x + 0.5, 0, 1), not relu6(x + 3) / 6,
 * so this small layer computes it directly.
 */
export class HardSwish extends tf.layers.Layer {
  static className = 'HardSwish';

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      return tf.div(tf.mul(x, tf.relu6(tf.add(x, 3))), 6);
    });
  }
}
tf.serialization.registerClass(HardSwish);

/** Activations that tfjs-layers 4.22 computes itself, by their tfjs identifier. */
const NATIVE_ACTIVATIONS: Readonly<Record<Exclude<Activation, 'hardswish'>, 'linear' | 'relu' | 'relu6' | 'swish' | 'sigmoid'>> = {
  linear: 'linear',
  relu: 'relu',
  relu6: 'relu6',
  swish: 'swish',
  sigmoid: 'sigmoid',
};

/** One setWeights call that buildTfjsModel makes once the model exists. */
interface WeightAssignment {
  layerName: string;
  /** The graph arrays in the layer's weight order, each with its tfjs shape. */
  values: Array<{ data: Float32Array; shape: number[] }>;
}

/** A LayersModel built from a Graph, with what was checked while setting its weights. */
export interface TfjsNetwork {
  model: tf.LayersModel;
  /** Float count of all graph parameters, each of which went into exactly one tfjs weight. */
  parameterCount: number;
}

/**
 * Collects every parameter array of a graph (weights, biases and the four
 * BatchNorm vectors), in graph order.
 */
export function graphParameters(graph: Graph): Float32Array[] {
  const arrays: Float32Array[] = [];
  const addLayer = (layer: { weight: Float32Array; bias: Float32Array | null; batchNorm?: BatchNorm }) => {
    arrays.push(layer.weight);
    if (layer.bias) arrays.push(layer.bias);
    if (layer.batchNorm) {
      const bn = layer.batchNorm;
      arrays.push(bn.gamma, bn.beta, bn.mean, bn.variance);
    }
  };
  addLayer(graph.stem);
  for (const block of graph.blocks) {
    if (block.expand) addLayer(block.expand);
    addLayer(block.depthwise);
    if (block.se) {
      addLayer(block.se.reduce);
      addLayer(block.se.expand);
    }
    addLayer(block.project);
  }
  if (graph.head) addLayer(graph.head);
  if (graph.classifier) addLayer(graph.classifier);
  return arrays;
}

/** Counts the floats in all parameter arrays of a graph. */
export function countGraphParameters(graph: Graph): number {
  return graphParameters(graph).reduce((total, array) => total + array.length, 0);
}

/** Layer-building state shared by the helpers below. */
class ModelBuilder {
  readonly assignments: WeightAssignment[] = [];

  /** Applies an activation as its own layer, except 'linear', which adds none. */
  activation(x: tf.SymbolicTensor, activation: Activation, name: string): tf.SymbolicTensor {
    if (activation === 'linear') return x;
    if (activation === 'hardswish') return new HardSwish({ name }).apply(x) as tf.SymbolicTensor;
    return tf.layers.activation({ activation: NATIVE_ACTIVATIONS[activation], name }).apply(x) as tf.SymbolicTensor;
  }

  /** Adds BatchNormalization over the channel axis in inference form (moving statistics). */
  batchNorm(x: tf.SymbolicTensor, bn: BatchNorm, name: string): tf.SymbolicTensor {
    const layer = tf.layers.batchNormalization({ axis: -1, epsilon: bn.epsilon, center: true, scale: true, name });
    const channels = bn.gamma.length;
    this.assignments.push({
      layerName: name,
      // tfjs orders BatchNormalization weights as gamma, beta, moving mean, moving variance.
      values: [bn.gamma, bn.beta, bn.mean, bn.variance].map((data) => ({ data, shape: [channels] })),
    });
    return layer.apply(x) as tf.SymbolicTensor;
  }

  /**
   * Turns explicit edge padding into a ZeroPadding2D layer, after which the
   * convolution uses 'valid'. 'same' and 'valid' pass through unchanged.
   */
  padding(x: tf.SymbolicTensor, padding: Padding, name: string): { x: tf.SymbolicTensor; padding: 'same' | 'valid' } {
    if (padding === 'same' || padding === 'valid') return { x, padding };
    const padded = tf.layers
      .zeroPadding2d({ padding: [[padding.top, padding.bottom], [padding.left, padding.right]], name })
      .apply(x) as tf.SymbolicTensor;
    return { x: padded, padding: 'valid' };
  }

  /**
   * Adds conv -> [BatchNormalization] -> activation. Without BatchNorm a native
   * activation goes inside the Conv2D, as Keras does for the squeeze-excite convs.
   */
  conv(
    x: tf.SymbolicTensor,
    layer: ConvLayer | PointwiseLayer,
    geometry: { kernel: number; stride: number; padding: Padding },
    weightShape: number[],
    prefix: string,
    names: { conv: string; bn: string; activation: string },
  ): tf.SymbolicTensor {
    const fused = !layer.batchNorm && layer.activation !== 'hardswish';
    const { x: input, padding } = this.padding(x, geometry.padding, `${prefix}_pad`);
    const conv = tf.layers.conv2d({
      filters: layer.outChannels,
      kernelSize: geometry.kernel,
      strides: geometry.stride,
      padding,
      useBias: layer.bias !== null,
      activation: fused ? NATIVE_ACTIVATIONS[layer.activation as Exclude<Activation, 'hardswish'>] : 'linear',
      name: names.conv,
    });
    this.assign(names.conv, [{ data: layer.weight, shape: weightShape }], layer.bias);
    let y = conv.apply(input) as tf.SymbolicTensor;
    if (layer.batchNorm) y = this.batchNorm(y, layer.batchNorm, names.bn);
    return fused ? y : this.activation(y, layer.activation, names.activation);
  }

  /** Adds a 1x1 Conv2D with its BatchNorm and activation, reshaping the graph's [in, out] weight to [1, 1, in, out]. */
  pointwise(x: tf.SymbolicTensor, layer: PointwiseLayer, names: { conv: string; bn: string; activation: string }): tf.SymbolicTensor {
    return this.conv(
      x,
      layer,
      { kernel: 1, stride: 1, padding: 'valid' },
      [1, 1, layer.inChannels, layer.outChannels],
      names.conv,
      names,
    );
  }

  /** Adds DepthwiseConv2D -> [BatchNormalization] -> activation, reshaping the graph's [k, k, C] weight to [k, k, C, 1]. */
  depthwise(x: tf.SymbolicTensor, layer: DepthwiseLayer, prefix: string): tf.SymbolicTensor {
    const { x: input, padding } = this.padding(x, layer.padding, `${prefix}_dwconv_pad`);
    const conv = tf.layers.depthwiseConv2d({
      kernelSize: layer.kernel,
      strides: layer.stride,
      padding,
      depthMultiplier: 1,
      useBias: layer.bias !== null,
      activation: 'linear',
      name: `${prefix}_dwconv`,
    });
    this.assign(`${prefix}_dwconv`, [{ data: layer.weight, shape: [layer.kernel, layer.kernel, layer.channels, 1] }], layer.bias);
    let y = conv.apply(input) as tf.SymbolicTensor;
    if (layer.batchNorm) y = this.batchNorm(y, layer.batchNorm, `${prefix}_dwconv_bn`);
    return this.activation(y, layer.activation, `${prefix}_dwconv_activation`);
  }

  /** Adds one MBConv block: [expand] -> depthwise -> [squeeze-excite] -> project -> [Add]. */
  block(input: tf.SymbolicTensor, block: MBConvBlock, index: number): tf.SymbolicTensor {
    const prefix = `block${index}`;
    let x = input;
    if (block.expand) {
      x = this.pointwise(x, block.expand, {
        conv: `${prefix}_expand`,
        bn: `${prefix}_expand_bn`,
        activation: `${prefix}_expand_activation`,
      });
    }
    x = this.depthwise(x, block.depthwise, prefix);

    if (block.se) {
      const channels = block.depthwise.channels;
      // GlobalAveragePooling2D of tfjs-layers 4.22 has no keepDims option, so a Reshape restores [1, 1, C].
      let gate = tf.layers.globalAveragePooling2d({ name: `${prefix}_se_squeeze` }).apply(x) as tf.SymbolicTensor;
      gate = tf.layers.reshape({ targetShape: [1, 1, channels], name: `${prefix}_se_reshape` }).apply(gate) as tf.SymbolicTensor;
      gate = this.pointwise(gate, block.se.reduce, {
        conv: `${prefix}_se_reduce`,
        bn: `${prefix}_se_reduce_bn`,
        activation: `${prefix}_se_reduce_activation`,
      });
      gate = this.pointwise(gate, block.se.expand, {
        conv: `${prefix}_se_expand`,
        bn: `${prefix}_se_expand_bn`,
        activation: `${prefix}_se_expand_activation`,
      });
      x = tf.layers.multiply({ name: `${prefix}_se_excite` }).apply([x, gate]) as tf.SymbolicTensor;
    }

    x = this.pointwise(x, block.project, {
      conv: `${prefix}_project`,
      bn: `${prefix}_project_bn`,
      activation: `${prefix}_project_activation`,
    });
    if (block.residual) {
      x = tf.layers.add({ name: `${prefix}_add` }).apply([x, input]) as tf.SymbolicTensor;
    }
    return x;
  }

  /** Queues a layer's kernel and, when present, its bias for setWeights. */
  assign(layerName: string, kernel: Array<{ data: Float32Array; shape: number[] }>, bias: Float32Array | null): void {
    const values = [...kernel];
    if (bias) values.push({ data: bias, shape: [bias.length] });
    this.assignments.push({ layerName, values });
  }
}

/**
 * Builds a tfjs LayersModel that computes the same function as graph, with
 * the same weights. A null inputHeight or inputWidth gives a model that takes
 * any size along that axis.
 *
 * Throws when the weights set differ from the graph's parameters: a graph
 * array left out or used twice, a tfjs layer with weights that received none,
 * or a total float count that differs from countGraphParameters(graph).
 */
export function buildTfjsModel(graph: Graph, name = 'efficientnet'): TfjsNetwork {
  if (graph.classifier && !graph.pool) {
    throw new Error(
      'Invalid graph for buildTfjsModel: a classifier needs a pool layer before it, but pool is null. ' +
        'Set pool or remove the classifier.',
    );
  }
  const builder = new ModelBuilder();
  const input = tf.input({ shape: [graph.inputHeight, graph.inputWidth, graph.inputChannels], name: 'input' });

  const stem = graph.stem;
  let x = builder.conv(input, stem, stem, [stem.kernel, stem.kernel, stem.inChannels, stem.outChannels], 'stem', {
    conv: 'stem_conv',
    bn: 'stem_bn',
    activation: 'stem_activation',
  });
  graph.blocks.forEach((block, index) => {
    x = builder.block(x, block, index);
  });
  if (graph.head) {
    x = builder.pointwise(x, graph.head, { conv: 'top_conv', bn: 'top_conv_bn', activation: 'top_activation' });
  }
  if (graph.pool) {
    const pool = graph.pool.type === 'avg' ? tf.layers.globalAveragePooling2d : tf.layers.globalMaxPooling2d;
    x = pool({ name: `${graph.pool.type}_pool` }).apply(x) as tf.SymbolicTensor;
  }
  if (graph.classifier) {
    const classifier = graph.classifier;
    const fused = !classifier.batchNorm && classifier.activation !== 'hardswish';
    const dense = tf.layers.dense({
      units: classifier.outChannels,
      useBias: classifier.bias !== null,
      activation: fused ? NATIVE_ACTIVATIONS[classifier.activation as Exclude<Activation, 'hardswish'>] : 'linear',
      name: 'predictions',
    });
    builder.assign('predictions', [{ data: classifier.weight, shape: [classifier.inChannels, classifier.outChannels] }], classifier.bias);
    x = dense.apply(x) as tf.SymbolicTensor;
    if (classifier.batchNorm) x = builder.batchNorm(x, classifier.batchNorm, 'predictions_bn');
    if (!fused) x = builder.activation(x, classifier.activation, 'predictions_activation');
    if (classifier.output === 'softmax') {
      x = tf.layers.activation({ activation: 'softmax', name: 'probabilities' }).apply(x) as tf.SymbolicTensor;
    }
  }

  const model = tf.model({ inputs: input, outputs: x, name });
  try {
    const parameterCount = setAndCheckWeights(model, graph, builder.assignments);
    return { model, parameterCount };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** Sets every queued weight and checks that the graph's parameters and the model's weights match one to one. */
function setAndCheckWeights(model: tf.LayersModel, graph: Graph, assignments: WeightAssignment[]): number {
  const expected = graphParameters(graph);
  const used = new Set<Float32Array>();
  const assignedLayers = new Set<string>();
  let assignedFloats = 0;

  for (const { layerName, values } of assignments) {
    if (assignedLayers.has(layerName)) {
      throw new Error(`buildTfjsModel failed: layer ${layerName} received weights twice.`);
    }
    assignedLayers.add(layerName);
    for (const { data } of values) {
      if (used.has(data)) {
        throw new Error(`buildTfjsModel failed: a graph array of ${data.length} floats went into ${layerName} and another layer.`);
      }
      used.add(data);
      assignedFloats += data.length;
    }
    const tensors = values.map(({ data, shape }) => tf.tensor(data, shape, 'float32'));
    try {
      model.getLayer(layerName).setWeights(tensors);
    } finally {
      tf.dispose(tensors);
    }
  }

  const missed = expected.filter((array) => !used.has(array));
  if (missed.length > 0 || used.size !== expected.length) {
    throw new Error(
      `buildTfjsModel failed: ${missed.length} of the graph's ${expected.length} parameter arrays were not set ` +
        `(sizes ${missed.map((array) => array.length).join(', ')}).`,
    );
  }
  for (const layer of model.layers) {
    if (layer.weights.length > 0 && !assignedLayers.has(layer.name)) {
      throw new Error(`buildTfjsModel failed: tfjs layer ${layer.name} has ${layer.weights.length} weights but none were set.`);
    }
  }

  const graphFloats = countGraphParameters(graph);
  // countParams counts trainable and non-trainable weights, so the BatchNorm moving statistics too.
  const modelFloats = model.countParams();
  if (assignedFloats !== graphFloats || modelFloats !== graphFloats) {
    throw new Error(
      `buildTfjsModel failed: the graph has ${graphFloats} parameters, ${assignedFloats} were set ` +
        `and the tfjs model has ${modelFloats}. Each count must be equal.`,
    );
  }
  return graphFloats;
}
