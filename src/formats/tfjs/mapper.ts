/**
 * Maps the flattened layer calls of a Keras model onto the MBConv-family graph
 * by following the tensors from the input to the output:
 *
 *   [Rescaling / Normalization]*                 (folded into the input normalization)
 *   stem: [ZeroPadding2D] Conv2D [BatchNormalization] [Activation | ReLU]
 *   blocks: [1x1 Conv2D expand unit] -> [ZeroPadding2D] DepthwiseConv2D unit
 *           -> [squeeze-excite: GlobalAveragePooling2D [Reshape] reduce unit, expand unit [Reshape] -> Multiply]
 *           -> 1x1 Conv2D project unit (linear) -> [Dropout] -> [Add with the block input]
 *   [1x1 Conv2D head unit] -> [GlobalAveragePooling2D | GlobalMaxPooling2D]
 *   -> ([BatchNormalization] Dense unit)* -> [Activation softmax]
 *
 * A unit is a convolution or Dense layer with its BatchNormalization and
 * activation. Dropout-style layers and linear activations pass the tensor
 * through, and Flatten or Reshape do so after the pool. Layer names never
 * decide anything; they appear only in messages.
 */
import type { BatchNorm, Classifier, ConvLayer, DepthwiseLayer, EdgePadding, Graph, MBConvBlock, PointwiseLayer, PoolLayer, SqueezeExcite } from '../../graph/spec.js';
import { TfjsFormatError } from './errors.js';
import {
  readActivationLayer,
  readBatchNorm,
  readConv2D,
  readDense,
  readDepthwiseConv2D,
  readGlobalPool,
  readNormalization,
  readRescaling,
  readReshapeTarget,
  readZeroPadding,
  type ChannelAffine,
  type KerasActivation,
  type LayerContext,
} from './layers.js';
import { describeLayer, type FlatModel, type LayerCall } from './topology.js';

/** Layers that are the identity at inference. */
const IDENTITY_CLASSES = new Set(['Dropout', 'FixedDropout', 'SpatialDropout2D', 'GaussianDropout', 'GaussianNoise', 'AlphaDropout']);

const SUPPORTED_CLASSES = [
  'InputLayer', 'Rescaling', 'Normalization', 'ZeroPadding2D', 'Conv2D', 'DepthwiseConv2D', 'BatchNormalization',
  'Activation', 'ReLU', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'Reshape', 'Flatten', 'Multiply', 'Add',
  'Dense', ...IDENTITY_CLASSES,
];

const SUPPORTED_MODELS = 'Only EfficientNet, EfficientNet-Lite and MobileNetV2-style Keras models (optionally with a Dense head) can be imported.';

/** The graph plus what the layers before the stem do to the model input. */
export interface MappedModel {
  graph: Graph;
  /** stemInput = input * gain + offset per channel, or null when the model has no preprocessing layers. */
  inputAffine: ChannelAffine | null;
}

/** A tensor being followed: its id, channel count, and whether a global pool already reduced it to 1x1. */
interface Tensor {
  id: string;
  channels: number;
  pooled: boolean;
}

/** A convolution or Dense layer with the BatchNormalization and activation that follow it. */
interface Unit {
  className: 'Conv2D' | 'DepthwiseConv2D' | 'Dense';
  call: LayerCall;
  kernel: number;
  stride: number;
  padding: 'same' | 'valid' | EdgePadding;
  inChannels: number;
  outChannels: number;
  depthMultiplier: number;
  activation: KerasActivation;
  weight: Float32Array;
  bias: Float32Array | null;
  batchNorm?: BatchNorm;
  output: Tensor;
}

export function mapModel(model: FlatModel, context: LayerContext): MappedModel {
  return new Mapper(model, context).map();
}

class Mapper {
  private readonly consumersOf = new Map<string, LayerCall[]>();
  private readonly source: string;

  constructor(
    private readonly model: FlatModel,
    private readonly context: LayerContext,
  ) {
    this.source = context.source;
    // Only calls that the output depends on are computed; Keras skips the others at inference too.
    const producer = new Map(model.calls.map((call) => [call.output, call]));
    const live = new Set<LayerCall>();
    const stack = [model.output];
    const seen = new Set<string>();
    while (stack.length > 0) {
      const tensor = stack.pop()!;
      if (seen.has(tensor)) continue;
      seen.add(tensor);
      const call = producer.get(tensor);
      if (call === undefined) continue;
      live.add(call);
      stack.push(...call.inputs);
    }
    if (!seen.has(model.input.tensor)) {
      throw new TfjsFormatError(`Unsupported TF.js model ${this.source}: the model output does not depend on its input. Export the model again.`);
    }
    for (const call of model.calls) {
      if (!live.has(call)) continue;
      for (const input of new Set(call.inputs)) {
        const list = this.consumersOf.get(input) ?? [];
        list.push(call);
        this.consumersOf.set(input, list);
      }
    }
    for (const call of live) {
      if (!SUPPORTED_CLASSES.includes(call.layer.className)) {
        throw new TfjsFormatError(
          `Unsupported TF.js model ${this.source}: ${describeLayer(call.layer)} has a layer class the importer does not support. ` +
            `Supported classes: ${SUPPORTED_CLASSES.join(', ')}, and nested Functional or Sequential models. ${SUPPORTED_MODELS}`,
        );
      }
    }
  }

  map(): MappedModel {
    const { height, width, channels } = this.inputSize();
    let current: Tensor = { id: this.model.input.tensor, channels, pooled: false };

    const preprocessing = this.mapPreprocessing(current);
    current = preprocessing.output;

    const stemUnit = this.readUnit(current, 'the stem: a Conv2D reading the model input');
    if (stemUnit.className !== 'Conv2D') throw this.unexpected(stemUnit.call, 'the stem: a Conv2D reading the model input');
    const stem: ConvLayer = { ...this.convFields(stemUnit), inChannels: channels, outChannels: stemUnit.outChannels };
    current = stemUnit.output;

    const blocks: MBConvBlock[] = [];
    let head: PointwiseLayer | null = null;
    for (;;) {
      current = this.skipIdentities(current);
      const consumers = this.consumers(current.id);
      const adds = consumers.filter((call) => call.layer.className === 'Add');
      const others = consumers.filter((call) => call.layer.className !== 'Add');
      if (others.length !== 1 || adds.length > 1) break;
      const first = others[0];
      const className = first.layer.className;
      if (className === 'DepthwiseConv2D' || className === 'ZeroPadding2D') {
        const block = this.mapBlock(current, first, null, adds[0] ?? null, blocks.length);
        blocks.push(block.block);
        current = block.output;
        continue;
      }
      if (className !== 'Conv2D') break;
      const unit = this.readUnit(current, 'a 1x1 Conv2D', first);
      const next = this.consumers(unit.output.id);
      const startsDepthwise =
        next.length === 1 && (next[0].layer.className === 'DepthwiseConv2D' || next[0].layer.className === 'ZeroPadding2D');
      if (startsDepthwise) {
        const block = this.mapBlock(current, first, unit, adds[0] ?? null, blocks.length);
        blocks.push(block.block);
        current = block.output;
        continue;
      }
      if (adds.length > 0) throw this.unexpected(adds[0], 'an Add only at the end of an MBConv block, with the block input');
      head = this.pointwise(unit, 'the head 1x1 Conv2D');
      current = unit.output;
      break;
    }

    current = this.skipIdentities(current);
    let pool: PoolLayer | null = null;
    const poolCall = this.next(current);
    if (poolCall !== null && (poolCall.layer.className === 'GlobalAveragePooling2D' || poolCall.layer.className === 'GlobalMaxPooling2D')) {
      pool = { type: readGlobalPool(this.context, poolCall.layer).type };
      current = { id: poolCall.output, channels: current.channels, pooled: true };
    }

    const dense = this.mapDenseLayers(current, pool !== null);
    current = dense.output;
    const rest = this.next(current);
    if (rest !== null) {
      throw this.unexpected(rest, `the end of the model after ${describePosition(blocks.length, head, pool, dense.classifier)}`);
    }
    if (current.id !== this.model.output) {
      throw new TfjsFormatError(`Unsupported TF.js model ${this.source}: the mapped layers end before the model output. ${SUPPORTED_MODELS}`);
    }

    const graph: Graph = {
      inputHeight: height,
      inputWidth: width,
      inputChannels: channels,
      stem,
      blocks,
      head,
      pool,
      ...(dense.hidden.length > 0 ? { hidden: dense.hidden } : {}),
      classifier: dense.classifier,
    };
    return { graph, inputAffine: preprocessing.affine };
  }

  private inputSize(): { height: number | null; width: number | null; channels: number } {
    const { shape, layer } = this.model.input;
    if (shape === null) return { height: null, width: null, channels: 3 };
    if (shape.length !== 4 || (shape[3] !== null && shape[3] !== 3)) {
      throw new TfjsFormatError(
        `Unsupported TF.js model ${this.source}: the input of ${describeLayer(layer)} must be [batch, height, width, 3] (RGB images), ` +
          `but it is [${shape.map((dim) => dim ?? 'null')}]. Export the model for single RGB images.`,
      );
    }
    return { height: shape[1], width: shape[2], channels: 3 };
  }

  /** Folds the Rescaling and Normalization layers after the input into one per-channel affine map. */
  private mapPreprocessing(input: Tensor): { affine: ChannelAffine | null; output: Tensor } {
    let current = input;
    let affine: ChannelAffine | null = null;
    for (;;) {
      current = this.skipIdentities(current);
      const call = this.next(current);
      if (call === null) return { affine, output: current };
      const className = call.layer.className;
      if (className !== 'Rescaling' && className !== 'Normalization') return { affine, output: current };
      const step =
        className === 'Rescaling'
          ? readRescaling(this.context, call.layer, current.channels)
          : readNormalization(this.context, call.layer, current.channels);
      const previous: ChannelAffine = affine ?? { gain: new Array<number>(current.channels).fill(1), offset: new Array<number>(current.channels).fill(0) };
      // y = (x * g0 + o0) * g1 + o1 = x * (g0 * g1) + (o0 * g1 + o1)
      affine = {
        gain: previous.gain.map((gain, c) => gain * step.gain[c]),
        offset: previous.offset.map((offset, c) => offset * step.gain[c] + step.offset[c]),
      };
      current = { ...current, id: call.output };
    }
  }

  /** Maps one block; `first` is the block's first layer, which reads the block input next to the residual Add. */
  private mapBlock(
    blockInput: Tensor,
    first: LayerCall,
    expandUnit: Unit | null,
    add: LayerCall | null,
    index: number,
  ): { block: MBConvBlock; output: Tensor } {
    const expand = expandUnit ? this.pointwise(expandUnit, `the expand 1x1 Conv2D of block ${index}`) : null;
    let current = expandUnit ? expandUnit.output : blockInput;

    const depthwiseUnit = this.readUnit(current, `the DepthwiseConv2D of block ${index}`, expandUnit ? undefined : first);
    if (depthwiseUnit.className !== 'DepthwiseConv2D') throw this.unexpected(depthwiseUnit.call, `the DepthwiseConv2D of block ${index}`);
    const depthwise: DepthwiseLayer = {
      ...this.convFields(depthwiseUnit),
      channels: depthwiseUnit.inChannels,
      ...(depthwiseUnit.depthMultiplier !== 1 ? { depthMultiplier: depthwiseUnit.depthMultiplier } : {}),
    };
    current = depthwiseUnit.output;

    let se: SqueezeExcite | null = null;
    if (this.consumers(current.id).length > 1) {
      const mapped = this.mapSqueezeExcite(current, index);
      se = mapped.se;
      current = mapped.output;
    }
    current = this.skipIdentities(current);

    const projectUnit = this.readUnit(current, `the 1x1 Conv2D projection of block ${index}`);
    if (projectUnit.className !== 'Conv2D') throw this.unexpected(projectUnit.call, `the 1x1 Conv2D projection of block ${index}`);
    const project = this.pointwise(projectUnit, `the projection of block ${index}`);
    if (project.activation !== 'linear') {
      throw this.context.unsupported(
        projectUnit.call.layer,
        `is the projection of block ${index} but applies ${project.activation}`,
        'an MBConv projection must be linear, with no activation after its BatchNormalization.',
      );
    }
    current = projectUnit.output;

    let residual = false;
    if (add !== null) {
      current = this.skipIdentities(current);
      const reads = new Set(add.inputs);
      const next = this.next(current);
      if (next !== add || add.inputs.length !== 2 || !reads.has(current.id) || !reads.has(blockInput.id)) {
        throw this.context.unsupported(
          add.layer,
          `adds the input of block ${index} to a tensor other than the block's projection output`,
          'a residual Add must read exactly the block input and the projection output (after an optional Dropout).',
        );
      }
      if (depthwise.stride !== 1 || blockInput.channels !== project.outChannels) {
        throw this.context.unsupported(
          add.layer,
          `adds the input of block ${index} to its output, but the block has stride ${depthwise.stride} and ` +
            `${blockInput.channels} -> ${project.outChannels} channels`,
          'a residual needs stride 1 and equal input and output channels.',
        );
      }
      residual = true;
      current = { ...current, id: add.output };
    }

    const block: MBConvBlock = {
      inChannels: blockInput.channels,
      outChannels: project.outChannels,
      expand,
      depthwise,
      se,
      project,
      residual,
    };
    return { block, output: current };
  }

  /** Maps GlobalAveragePooling2D -> [Reshape] -> reduce unit -> expand unit -> [Reshape] -> Multiply with the features. */
  private mapSqueezeExcite(features: Tensor, index: number): { se: SqueezeExcite; output: Tensor } {
    const consumers = this.consumers(features.id);
    const pool = consumers.find((call) => call.layer.className === 'GlobalAveragePooling2D');
    const multiply = consumers.find((call) => call.layer.className === 'Multiply');
    if (consumers.length !== 2 || pool === undefined || multiply === undefined) {
      throw this.branch(features.id, consumers, `block ${index}: after the depthwise unit only a squeeze-excite branch (GlobalAveragePooling2D and Multiply) is supported`);
    }
    readGlobalPool(this.context, pool.layer);
    let current: Tensor = this.skipIdentities({ id: pool.output, channels: features.channels, pooled: true });
    const reduceUnit = this.readUnit(current, `the squeeze-excite reducing layer of block ${index}`);
    const reduce = this.pointwise(reduceUnit, `the squeeze-excite reducing layer of block ${index}`);
    current = this.skipIdentities(reduceUnit.output);
    const expandUnit = this.readUnit(current, `the squeeze-excite expanding layer of block ${index}`);
    const expand = this.pointwise(expandUnit, `the squeeze-excite expanding layer of block ${index}`);
    current = this.skipIdentities(expandUnit.output);
    if (expand.outChannels !== features.channels) {
      throw this.context.unsupported(
        expandUnit.call.layer,
        `outputs ${expand.outChannels} channels as the squeeze-excite gate of block ${index}`,
        `the gate must have one value per feature channel (${features.channels}).`,
      );
    }
    const gateReader = this.next(current);
    if (gateReader !== multiply || multiply.inputs.length !== 2 || !multiply.inputs.includes(current.id) || !multiply.inputs.includes(features.id)) {
      throw this.context.unsupported(
        multiply.layer,
        `scales the features of block ${index} by something other than the squeeze-excite gate`,
        'the Multiply must read exactly the depthwise features and the expanding layer output.',
      );
    }
    return { se: { reduce, expand }, output: { id: multiply.output, channels: features.channels, pooled: false } };
  }

  /** Maps the layers after the pool: Dense units (with BatchNormalization before or after) and a final softmax. */
  private mapDenseLayers(input: Tensor, pooled: boolean): { hidden: PointwiseLayer[]; classifier: Classifier | null; output: Tensor } {
    const layers: PointwiseLayer[] = [];
    let softmax = false;
    let pending: { batchNorm: BatchNorm; call: LayerCall } | null = null;
    let current = input;
    for (;;) {
      current = this.skipIdentities(current);
      const call = this.next(current);
      if (call === null) break;
      const className = call.layer.className;
      if (!pooled && (className === 'Dense' || className === 'BatchNormalization' || className === 'Flatten')) {
        throw this.context.unsupported(call.layer, 'reads a feature map that no global pool reduced', 'Dense layers are supported only after GlobalAveragePooling2D or GlobalMaxPooling2D.');
      }
      if (!pooled) break;
      if (softmax && className !== 'Activation') {
        throw this.context.unsupported(call.layer, 'follows the softmax', 'softmax must be the last layer of the model.');
      }
      if (className === 'BatchNormalization' && pending === null) {
        pending = { batchNorm: readBatchNorm(this.context, call.layer, current.channels), call };
        current = { ...current, id: call.output };
        continue;
      }
      if (className === 'Activation' && layers.length > 0 && readActivationLayer(this.context, call.layer) === 'softmax' && !softmax) {
        if (layers[layers.length - 1].activation !== 'linear') {
          throw this.context.unsupported(call.layer, `applies softmax after ${layers[layers.length - 1].activation}`, 'softmax must directly follow a linear Dense layer.');
        }
        softmax = true;
        current = { ...current, id: call.output };
        continue;
      }
      if (className !== 'Dense' && className !== 'Conv2D') break;
      const unit = this.readUnit(current, 'a Dense layer');
      if (unit.className === 'Conv2D' && unit.kernel !== 1) {
        throw this.context.unsupported(unit.call.layer, `is a ${unit.kernel}x${unit.kernel} Conv2D after the global pool`, 'only 1x1 Conv2D layers can act as Dense layers on the pooled features.');
      }
      let layer = this.pointwise(unit, 'a Dense layer', true);
      if (pending !== null) {
        layer = foldInputBatchNorm(layer, pending.batchNorm);
        pending = null;
      }
      if (unit.activation === 'softmax') {
        softmax = true;
        layer = { ...layer, activation: 'linear' };
      }
      layers.push(layer);
      current = unit.output;
    }
    if (pending !== null) {
      throw this.context.unsupported(
        pending.call.layer,
        'normalizes the pooled features without a Dense layer after it',
        'a BatchNormalization after the global pool is supported only when a Dense layer follows, into which it is folded.',
      );
    }
    if (layers.length === 0) return { hidden: [], classifier: null, output: current };
    const last = layers[layers.length - 1];
    const classifier: Classifier = { ...last, output: softmax ? 'softmax' : 'logits' };
    return { hidden: layers.slice(0, -1), classifier, output: current };
  }

  /**
   * Reads a unit starting at `input`: [ZeroPadding2D] Conv2D, DepthwiseConv2D or Dense, then a BatchNormalization
   * (when the layer itself has no activation) and an Activation or ReLU layer (when none came before). A softmax
   * Activation is left for the caller. `first` gives the first layer when the input has other readers.
   */
  private readUnit(input: Tensor, expected: string, first?: LayerCall): Unit {
    let call = first ?? this.next(input);
    if (call === null) throw this.unexpected(null, expected);
    let pad: EdgePadding | null = null;
    let tensorId = input.id;
    if (call.layer.className === 'ZeroPadding2D') {
      if (input.pooled) throw this.unexpected(call, expected);
      pad = readZeroPadding(this.context, call.layer);
      tensorId = call.output;
      const padCall = call;
      call = this.next({ ...input, id: tensorId });
      if (call === null || (call.layer.className !== 'Conv2D' && call.layer.className !== 'DepthwiseConv2D')) {
        throw this.context.unsupported(padCall.layer, 'does not feed a convolution', 'ZeroPadding2D is supported only directly before a Conv2D or DepthwiseConv2D, into which it is merged.');
      }
    }
    const className = call.layer.className;
    let unit: Unit;
    if (className === 'Conv2D' || className === 'DepthwiseConv2D') {
      const conv =
        className === 'Conv2D'
          ? { ...readConv2D(this.context, call.layer, input.channels), depthMultiplier: 1 }
          : readDepthwiseConv2D(this.context, call.layer, input.channels);
      if (pad !== null && conv.padding === 'same') {
        throw this.context.unsupported(call.layer, "has padding 'same' after a ZeroPadding2D", "a convolution after ZeroPadding2D must have padding 'valid'.");
      }
      if (input.pooled && (conv.kernel !== 1 || conv.stride !== 1)) throw this.unexpected(call, expected);
      unit = { ...conv, className, call, padding: pad ?? conv.padding, output: { id: call.output, channels: conv.outChannels, pooled: input.pooled } };
    } else if (className === 'Dense' && input.pooled) {
      const dense = readDense(this.context, call.layer, input.channels);
      unit = { ...dense, className, call, kernel: 1, stride: 1, padding: 'valid', depthMultiplier: 1, output: { id: call.output, channels: dense.outChannels, pooled: true } };
    } else {
      throw this.unexpected(call, expected);
    }

    let next = this.next(unit.output, true);
    if (next?.layer.className === 'BatchNormalization' && unit.activation === 'linear') {
      unit.batchNorm = readBatchNorm(this.context, next.layer, unit.outChannels);
      unit.output = { ...unit.output, id: next.output };
      next = this.next(unit.output, true);
    }
    if ((next?.layer.className === 'Activation' || next?.layer.className === 'ReLU') && unit.activation === 'linear') {
      const activation = readActivationLayer(this.context, next.layer);
      if (activation !== 'softmax') {
        unit.activation = activation;
        unit.output = { ...unit.output, id: next.output };
      }
    }
    return unit;
  }

  private convFields(unit: Unit) {
    if (unit.activation === 'softmax') {
      throw this.context.unsupported(unit.call.layer, 'applies softmax', 'softmax is supported only on the last Dense layer.');
    }
    return {
      kernel: unit.kernel,
      stride: unit.stride,
      padding: unit.padding,
      activation: unit.activation,
      weight: unit.weight,
      bias: unit.bias,
      ...(unit.batchNorm ? { batchNorm: unit.batchNorm } : {}),
    };
  }

  /** Turns a 1x1 stride-1 Conv2D unit or a Dense unit into a pointwise layer; `allowSoftmax` keeps a softmax for the caller. */
  private pointwise(unit: Unit, role: string, allowSoftmax = false): PointwiseLayer {
    if (unit.className === 'DepthwiseConv2D' || unit.kernel !== 1 || unit.stride !== 1 || (unit.padding !== 'same' && unit.padding !== 'valid')) {
      throw this.unexpected(unit.call, `${role}: a 1x1 Conv2D with stride 1 or a Dense layer`);
    }
    if (unit.activation === 'softmax' && !allowSoftmax) {
      throw this.context.unsupported(unit.call.layer, 'applies softmax', 'softmax is supported only on the last Dense layer.');
    }
    return {
      inChannels: unit.inChannels,
      outChannels: unit.outChannels,
      activation: unit.activation as PointwiseLayer['activation'],
      weight: unit.weight,
      bias: unit.bias,
      ...(unit.batchNorm ? { batchNorm: unit.batchNorm } : {}),
    };
  }

  /** Follows layers that pass the tensor through unchanged, while each is the tensor's only reader. */
  private skipIdentities(tensor: Tensor): Tensor {
    let current = tensor;
    for (;;) {
      const consumers = this.consumers(current.id);
      if (consumers.length !== 1) return current;
      const call = consumers[0];
      const className = call.layer.className;
      const identity =
        IDENTITY_CLASSES.has(className) ||
        (className === 'Activation' && readActivationLayer(this.context, call.layer) === 'linear') ||
        (current.pooled && (className === 'Flatten' || (className === 'Reshape' && this.isChannelReshape(call, current.channels))));
      if (!identity) return current;
      current = { ...current, id: call.output };
    }
  }

  /** Returns true for a Reshape of pooled features to [C], [1, C] or [1, 1, C]; rejects any other Reshape there. */
  private isChannelReshape(call: LayerCall, channels: number): boolean {
    const target = readReshapeTarget(this.context, call.layer);
    const sized = target.filter((dim) => dim !== 1);
    if (target.length <= 3 && sized.length === 1 && (sized[0] === channels || sized[0] === -1)) return true;
    if (target.length <= 3 && sized.length === 0 && channels === 1) return true;
    throw this.context.unsupported(call.layer, `reshapes ${channels} pooled channels to [${target}]`, `only reshapes to [${channels}] or [1, 1, ${channels}] are supported here.`);
  }

  private consumers(tensor: string): LayerCall[] {
    return this.consumersOf.get(tensor) ?? [];
  }

  /**
   * Returns the one layer that reads the tensor, or null at the model output. With `quiet`, a tensor
   * read by several layers returns null as well, so that a unit ends there.
   */
  private next(tensor: Tensor, quiet = false): LayerCall | null {
    const consumers = this.consumers(tensor.id);
    if (consumers.length === 0) return null;
    if (consumers.length === 1) return consumers[0];
    if (quiet) return null;
    throw this.branch(tensor.id, consumers, 'the importer follows one chain of layers');
  }

  private branch(tensor: string, consumers: LayerCall[], rule: string): TfjsFormatError {
    const producer = this.model.calls.find((call) => call.output === tensor);
    const from = producer ? `the output of ${describeLayer(producer.layer)}` : `the model input`;
    return new TfjsFormatError(
      `Unsupported TF.js model ${this.source}: ${from} is read by ${consumers.length} layers ` +
        `(${consumers.map((call) => describeLayer(call.layer)).join(', ')}), a branch the graph cannot express; ${rule}, ` +
        'plus the residual Add of each block and the squeeze-excite Multiply. ' + SUPPORTED_MODELS,
    );
  }

  private unexpected(call: LayerCall | null, expected: string): TfjsFormatError {
    if (call === null) {
      return new TfjsFormatError(`Unsupported TF.js model ${this.source}: the model ends where the importer expected ${expected}. ${SUPPORTED_MODELS}`);
    }
    return new TfjsFormatError(
      `Unsupported TF.js model ${this.source}: ${describeLayer(call.layer)} does not fit the MBConv pattern here; expected ${expected}. ${SUPPORTED_MODELS}`,
    );
  }
}

/**
 * Folds a BatchNormalization that feeds a Dense layer into it. With s = gamma / sqrt(variance + epsilon)
 * and t = beta - s * mean, dense(s * x + t) has weight s[i] * W[i][o] and bias b[o] + sum_i t[i] * W[i][o].
 * Computed in f64.
 */
function foldInputBatchNorm(layer: PointwiseLayer, bn: BatchNorm): PointwiseLayer {
  const { inChannels, outChannels } = layer;
  const weight = new Float32Array(layer.weight.length);
  const bias = new Float64Array(outChannels);
  if (layer.bias) bias.set(layer.bias);
  for (let i = 0; i < inChannels; i++) {
    const scale = bn.gamma[i] / Math.sqrt(bn.variance[i] + bn.epsilon);
    const shift = bn.beta[i] - scale * bn.mean[i];
    for (let o = 0; o < outChannels; o++) {
      const w = layer.weight[i * outChannels + o];
      weight[i * outChannels + o] = scale * w;
      bias[o] += shift * w;
    }
  }
  return { ...layer, weight, bias: Float32Array.from(bias) };
}

function describePosition(blocks: number, head: PointwiseLayer | null, pool: PoolLayer | null, classifier: Classifier | null): string {
  if (classifier) return 'the last Dense layer';
  if (pool) return 'the global pool';
  if (head) return 'the head convolution';
  return blocks > 0 ? `block ${blocks - 1}` : 'the stem';
}
