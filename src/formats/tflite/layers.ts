/**
 * Maps single TFLite operators (and the few-operator patterns that make one
 * graph layer) onto graph-spec layers. An OperatorCursor reads the operators
 * in execution order. Each mapping consumes the operators it uses and checks
 * that they read the previous layer's output tensor.
 */
import { resolveAxis } from '../../graph/padding.js';
import type {
  Activation,
  ConvLayer,
  DepthwiseLayer,
  EdgePadding,
  Padding,
  PointwiseLayer,
  QuantGrid,
} from '../../graph/spec.js';
import { TfliteFormatError } from './flatbuffer.js';
import {
  BuiltinOperator,
  BuiltinOptionsType,
  builtinOperatorName,
  FusedActivation,
  fusedActivationName,
  optionsOf,
  readConvOptions,
  readDepthwiseOptions,
  readElementwiseActivation,
  readFullyConnectedOptions,
  TensorType,
  TflitePadding,
  type ConvOptions,
  type TfliteModel,
  type TfliteOperator,
  type TfliteSubgraph,
  type TfliteTensor,
} from './schema.js';
import { elementCount, gridOf, ohwiToHwio, readConstant, readInt32Constant, sameRealGrid, transposeOutIn } from './tensors.js';

/** The model being mapped plus the tensor aliases found while reading it. */
export class MappingContext {
  /** Output tensors of QUANTIZE/DEQUANTIZE operators on constants, mapped to the constant they convert. */
  readonly constantAliases = new Map<number, number>();

  constructor(
    readonly model: TfliteModel,
    readonly subgraph: TfliteSubgraph,
    readonly source: string,
  ) {}

  opName(op: TfliteOperator): string {
    const code = this.model.operatorCodes[op.opcodeIndex];
    if (code === undefined) {
      throw new TfliteFormatError(
        `Invalid TFLite model in ${this.source}: operator ${op.index} uses opcode_index ${op.opcodeIndex}, ` +
          `but the model has ${this.model.operatorCodes.length} operator codes. The file is corrupt; export it again.`,
      );
    }
    if (code.builtinCode === BuiltinOperator.CUSTOM) return `CUSTOM '${code.customCode ?? ''}'`;
    return builtinOperatorName(code.builtinCode);
  }

  builtinCode(op: TfliteOperator): number {
    return this.model.operatorCodes[op.opcodeIndex].builtinCode;
  }

  /** "operator 7 (CONV_2D) of model.tflite", the location used in every mapping error. */
  where(op: TfliteOperator): string {
    return `operator ${op.index} (${this.opName(op)}) of ${this.source}`;
  }

  tensor(id: number, op: TfliteOperator, role: string): TfliteTensor {
    const tensor = this.subgraph.tensors[id];
    if (tensor === undefined) {
      throw new TfliteFormatError(
        `Invalid TFLite model in ${this.source}: ${role} of operator ${op.index} (${this.opName(op)}) is tensor ${id}, ` +
          `but the subgraph has ${this.subgraph.tensors.length} tensors. The file is corrupt; export it again.`,
      );
    }
    return tensor;
  }

  /** Resolves a constant input, following QUANTIZE/DEQUANTIZE operators that only convert a constant. */
  constantTensor(id: number, op: TfliteOperator, role: string): TfliteTensor {
    return this.tensor(this.constantAliases.get(id) ?? id, op, role);
  }

  isConstant(id: number): boolean {
    if (this.constantAliases.has(id)) return true;
    const tensor = this.subgraph.tensors[id];
    return tensor !== undefined && tensor.buffer !== 0 && (this.model.buffers[tensor.buffer]?.length ?? 0) > 0;
  }

  constant(id: number, op: TfliteOperator, role: string): Float32Array {
    const tensor = this.constantTensor(id, op, role);
    return readConstant(this.model, tensor, `${role} of ${this.where(op)}`, this.source);
  }

  int32Constant(id: number, op: TfliteOperator, role: string): number[] {
    const tensor = this.constantTensor(id, op, role);
    return readInt32Constant(this.model, tensor, `${role} of ${this.where(op)}`, this.source);
  }

  grid(id: number, op: TfliteOperator, role: string): QuantGrid | undefined {
    return gridOf(this.tensor(id, op, role), `${role} of ${this.where(op)}`, this.source);
  }

  unsupported(op: TfliteOperator, detail: string, next: string): TfliteFormatError {
    return new TfliteFormatError(`Unsupported TFLite model: ${this.where(op)} ${detail}; ${next}`);
  }
}

/** Walks the operators of the subgraph in execution order. */
export class OperatorCursor {
  private position = 0;

  constructor(
    readonly context: MappingContext,
    private readonly operators: TfliteOperator[],
  ) {}

  peek(offset = 0): TfliteOperator | undefined {
    return this.operators[this.position + offset];
  }

  peekCode(offset = 0): number | undefined {
    const op = this.peek(offset);
    return op === undefined ? undefined : this.context.builtinCode(op);
  }

  next(): TfliteOperator {
    const op = this.operators[this.position];
    this.position++;
    return op;
  }

  get done(): boolean {
    return this.position >= this.operators.length;
  }
}

/** A mapped layer plus the tensor it produces. */
export interface Mapped<T> {
  layer: T;
  output: number;
}

/** Explicit padding waiting to be merged into the next convolution. */
export interface PendingPad {
  op: TfliteOperator;
  edges: EdgePadding;
}

const SUPPORTED_FUSED = 'supported fused activations are NONE, RELU and RELU6';

/** Checks that `op` reads `current` as its data input (input 0). */
export function expectInput(context: MappingContext, op: TfliteOperator, current: number): void {
  if (op.inputs[0] !== current) {
    throw context.unsupported(
      op,
      `reads tensor ${op.inputs[0]} but the chain being mapped ends at tensor ${current}`,
      'the importer supports one chain of layers where each operator reads the previous output ' +
        '(plus the residual ADD of a block). Export the model without side branches.',
    );
  }
}

function singleOutput(context: MappingContext, op: TfliteOperator): number {
  if (op.outputs.length !== 1) {
    throw context.unsupported(op, `has ${op.outputs.length} outputs, but must have 1`, 'the file is corrupt or not a supported model.');
  }
  return op.outputs[0];
}

function fusedActivation(context: MappingContext, op: TfliteOperator, code: number): Activation {
  if (code === FusedActivation.NONE) return 'linear';
  if (code === FusedActivation.RELU) return 'relu';
  if (code === FusedActivation.RELU6) return 'relu6';
  throw context.unsupported(op, `uses the fused activation ${fusedActivationName(code)}`, `${SUPPORTED_FUSED}.`);
}

/**
 * Reads the activation of a layer: its fused activation, or, when that is NONE, a following
 * LOGISTIC (sigmoid), LOGISTIC plus MUL of the layer output by it (swish) or HARD_SWISH operator.
 * Returns the activation and the tensor after it, consuming the operators it uses.
 */
function readActivation(
  cursor: OperatorCursor,
  op: TfliteOperator,
  fusedCode: number,
  output: number,
): { activation: Activation; output: number } {
  const context = cursor.context;
  const fused = fusedActivation(context, op, fusedCode);
  if (fused !== 'linear') return { activation: fused, output };

  const next = cursor.peek();
  if (next === undefined || next.inputs[0] !== output) return { activation: 'linear', output };
  const code = context.builtinCode(next);
  if (code === BuiltinOperator.LOGISTIC) {
    cursor.next();
    const sigmoid = singleOutput(context, next);
    const after = cursor.peek();
    if (after !== undefined && context.builtinCode(after) === BuiltinOperator.MUL && sameOperands(after, output, sigmoid)) {
      cursor.next();
      checkNoFusedActivation(context, after);
      return { activation: 'swish', output: singleOutput(context, after) };
    }
    return { activation: 'sigmoid', output: sigmoid };
  }
  if (code === BuiltinOperator.HARD_SWISH) {
    cursor.next();
    return { activation: 'hardswish', output: singleOutput(context, next) };
  }
  return { activation: 'linear', output };
}

function sameOperands(op: TfliteOperator, a: number, b: number): boolean {
  return op.inputs.length === 2 && ((op.inputs[0] === a && op.inputs[1] === b) || (op.inputs[0] === b && op.inputs[1] === a));
}

export function checkNoFusedActivation(context: MappingContext, op: TfliteOperator): void {
  const type = context.builtinCode(op) === BuiltinOperator.MUL ? BuiltinOptionsType.MulOptions : BuiltinOptionsType.AddOptions;
  const options = optionsOf(op, type, type === BuiltinOptionsType.MulOptions ? 'MulOptions' : 'AddOptions', context.opName(op), context.source);
  const code = options ? readElementwiseActivation(options) : FusedActivation.NONE;
  if (code !== FusedActivation.NONE) {
    throw context.unsupported(
      op,
      `uses the fused activation ${fusedActivationName(code)}, but this operator must have none`,
      'the graph has no activation after a residual sum or a squeeze-excite scale.',
    );
  }
}

/** Reads the paddings of PAD or PADV2 and checks that they pad only height and width, with real zeros. */
export function readPad(context: MappingContext, op: TfliteOperator): PendingPad {
  const input = context.tensor(op.inputs[0], op, 'input 0');
  if (input.shape.length !== 4) {
    throw context.unsupported(op, `pads a tensor of rank ${input.shape.length}`, 'only NHWC tensors of rank 4 can be padded.');
  }
  const paddings = context.int32Constant(op.inputs[1], op, 'input 1 (paddings)');
  if (paddings.length !== 8) {
    throw context.unsupported(op, `has ${paddings.length} padding values`, 'PAD must have paddings of shape [4, 2].');
  }
  if (paddings[0] !== 0 || paddings[1] !== 0 || paddings[6] !== 0 || paddings[7] !== 0) {
    throw context.unsupported(
      op,
      `pads the batch or channel axis (paddings [${paddings}])`,
      'only height and width padding can be merged into a convolution.',
    );
  }
  if (paddings.some((value) => value < 0)) {
    throw context.unsupported(op, `has negative paddings [${paddings}]`, 'paddings must be zero or more.');
  }

  if (context.builtinCode(op) === BuiltinOperator.PADV2 && op.inputs.length > 2 && op.inputs[2] >= 0) {
    const value = context.constant(op.inputs[2], op, 'input 2 (constant_values)');
    if (value.length !== 1 || value[0] !== 0) {
      throw context.unsupported(
        op,
        `pads with the real value ${value[0]}`,
        'only zero padding can be merged into a convolution, because the kernels pad with zeros.',
      );
    }
  }
  const inputGrid = gridOf(input, `input 0 of ${context.where(op)}`, context.source);
  const outputGrid = context.grid(singleOutput(context, op), op, 'output 0');
  if (inputGrid && outputGrid && !sameRealGrid(inputGrid, outputGrid)) {
    throw context.unsupported(op, 'changes the quantization grid of its input', 'PAD must keep its input grid.');
  }
  return { op, edges: { top: paddings[2], bottom: paddings[3], left: paddings[4], right: paddings[5] } };
}

interface ConvGeometry {
  kernel: number;
  stride: number;
  padding: Padding;
}

/**
 * Resolves kernel, stride and padding of a convolution, merging explicit padding from a
 * preceding PAD, and checks the output shape against what those imply.
 */
function convGeometry(
  context: MappingContext,
  op: TfliteOperator,
  options: ConvOptions,
  kernelH: number,
  kernelW: number,
  input: TfliteTensor,
  output: TfliteTensor,
  pad: PendingPad | null,
): ConvGeometry {
  if (kernelH !== kernelW) {
    throw context.unsupported(op, `has a ${kernelH}x${kernelW} kernel`, 'only square kernels are supported.');
  }
  if (options.strideH !== options.strideW || options.strideH < 1) {
    throw context.unsupported(
      op,
      `has strides ${options.strideH} (height) and ${options.strideW} (width)`,
      'the stride must be the same positive number on both axes.',
    );
  }
  if (options.dilationH !== 1 || options.dilationW !== 1) {
    throw context.unsupported(
      op,
      `has dilation ${options.dilationH}x${options.dilationW}`,
      'only dilation 1 is supported.',
    );
  }
  if (options.padding !== TflitePadding.SAME && options.padding !== TflitePadding.VALID) {
    throw context.unsupported(op, `has padding mode ${options.padding}`, 'padding must be SAME (0) or VALID (1).');
  }

  const kernel = kernelH;
  const stride = options.strideH;
  const [, inH, inW] = input.shape;
  let padding: Padding = options.padding === TflitePadding.SAME ? 'same' : 'valid';
  if (pad !== null) {
    // The kernels see the unpadded input, so the PAD edges and any SAME padding of the padded size add up.
    const paddedH = inH + pad.edges.top + pad.edges.bottom;
    const paddedW = inW + pad.edges.left + pad.edges.right;
    const sameH = resolveAxis(paddedH, kernel, stride, padding, 'height');
    const sameW = resolveAxis(paddedW, kernel, stride, padding, 'width');
    padding = {
      top: pad.edges.top + sameH.padBefore,
      bottom: pad.edges.bottom + sameH.padAfter,
      left: pad.edges.left + sameW.padBefore,
      right: pad.edges.right + sameW.padAfter,
    };
  }

  const expectedH = resolveAxis(inH, kernel, stride, padding, 'height').outSize;
  const expectedW = resolveAxis(inW, kernel, stride, padding, 'width').outSize;
  if (output.shape[1] !== expectedH || output.shape[2] !== expectedW) {
    throw context.unsupported(
      op,
      `outputs [${output.shape}], but a ${kernel}x${kernel} kernel with stride ${stride} and ` +
        `${typeof padding === 'string' ? padding.toUpperCase() : 'explicit'} padding on [${input.shape}] gives ${expectedH}x${expectedW}`,
      'the shapes do not chain; the file is corrupt.',
    );
  }
  return { kernel, stride, padding };
}

function requireNhwc(context: MappingContext, op: TfliteOperator, tensor: TfliteTensor, role: string): void {
  if (tensor.shape.length !== 4 || tensor.shape[0] !== 1) {
    throw context.unsupported(op, `has ${role} of shape [${tensor.shape}]`, 'it must be NHWC with batch 1.');
  }
}

function readBias(context: MappingContext, op: TfliteOperator, channels: number): Float32Array | null {
  if (op.inputs.length < 3 || op.inputs[2] < 0) return null;
  const bias = context.constant(op.inputs[2], op, 'input 2 (bias)');
  if (bias.length !== channels) {
    throw context.unsupported(op, `has ${bias.length} bias values for ${channels} output channels`, 'the file is corrupt.');
  }
  return bias;
}

function weightTensor(context: MappingContext, op: TfliteOperator): TfliteTensor {
  if (op.inputs.length < 2 || !context.isConstant(op.inputs[1])) {
    throw context.unsupported(op, 'has no constant weight tensor (input 1)', 'weights must be stored in the file.');
  }
  return context.constantTensor(op.inputs[1], op, 'input 1 (weights)');
}

/** Maps a CONV_2D with a k x k kernel (k > 1 for the stem). */
export function mapConv(cursor: OperatorCursor, current: number, pad: PendingPad | null): Mapped<ConvLayer> {
  const context = cursor.context;
  const op = cursor.next();
  expectInput(context, op, current);
  const options = readConvOptions(requireOptions(context, op, BuiltinOptionsType.Conv2DOptions, 'Conv2DOptions'));
  const input = context.tensor(pad ? pad.op.inputs[0] : current, op, 'input 0');
  const outputId = singleOutput(context, op);
  const output = context.tensor(outputId, op, 'output 0');
  requireNhwc(context, op, input, 'an input');
  requireNhwc(context, op, output, 'an output');

  const weights = weightTensor(context, op);
  const [outChannels, kernelH, kernelW, inChannels] = weights.shape;
  if (weights.shape.length !== 4 || inChannels !== input.shape[3] || outChannels !== output.shape[3]) {
    throw context.unsupported(
      op,
      `has weights [${weights.shape}] for input [${input.shape}] and output [${output.shape}]`,
      'CONV_2D weights must be [out, kh, kw, in] matching the channels of its input and output.',
    );
  }
  const geometry = convGeometry(context, op, options, kernelH, kernelW, input, output, pad);
  const weight = ohwiToHwio(context.constant(op.inputs[1], op, 'input 1 (weights)'), weights.shape);
  const bias = readBias(context, op, outChannels);
  const { activation, output: after } = readActivation(cursor, op, options.activation, outputId);
  return {
    layer: {
      ...geometry,
      inChannels,
      outChannels,
      activation,
      weight,
      bias,
      ...gridField(context.grid(after, op, 'output')),
      ...weightScalesField(weights, 0),
    },
    output: after,
  };
}

/** Maps a DEPTHWISE_CONV_2D with depth multiplier 1. */
export function mapDepthwise(cursor: OperatorCursor, current: number, pad: PendingPad | null): Mapped<DepthwiseLayer> {
  const context = cursor.context;
  const op = cursor.next();
  expectInput(context, op, current);
  const options = readDepthwiseOptions(requireOptions(context, op, BuiltinOptionsType.DepthwiseConv2DOptions, 'DepthwiseConv2DOptions'));
  const input = context.tensor(pad ? pad.op.inputs[0] : current, op, 'input 0');
  const outputId = singleOutput(context, op);
  const output = context.tensor(outputId, op, 'output 0');
  requireNhwc(context, op, input, 'an input');
  requireNhwc(context, op, output, 'an output');

  const weights = weightTensor(context, op);
  const channels = input.shape[3];
  const [one, kernelH, kernelW, weightChannels] = weights.shape;
  if (weights.shape.length !== 4 || one !== 1 || weightChannels !== channels || output.shape[3] !== channels) {
    throw context.unsupported(
      op,
      `has weights [${weights.shape}] for input [${input.shape}] and output [${output.shape}]`,
      'only depth multiplier 1 is supported: weights [1, kh, kw, C] with C input and output channels.',
    );
  }
  if (options.depthMultiplier !== 0 && options.depthMultiplier !== 1) {
    throw context.unsupported(op, `has depth_multiplier ${options.depthMultiplier}`, 'only depth multiplier 1 is supported.');
  }
  const geometry = convGeometry(context, op, options, kernelH, kernelW, input, output, pad);
  // [1, kh, kw, C] and [kh, kw, C] have the same element order.
  const weight = context.constant(op.inputs[1], op, 'input 1 (weights)');
  const bias = readBias(context, op, channels);
  const { activation, output: after } = readActivation(cursor, op, options.activation, outputId);
  return {
    layer: {
      ...geometry,
      channels,
      activation,
      weight,
      bias,
      ...gridField(context.grid(after, op, 'output')),
      ...weightScalesField(weights, 3),
    },
    output: after,
  };
}

/** Maps a 1x1 CONV_2D with stride 1 or a FULLY_CONNECTED onto a pointwise layer. */
export function mapPointwise(cursor: OperatorCursor, current: number): Mapped<PointwiseLayer> {
  const context = cursor.context;
  const op = cursor.next();
  expectInput(context, op, current);
  const code = context.builtinCode(op);
  const input = context.tensor(current, op, 'input 0');
  const outputId = singleOutput(context, op);
  const output = context.tensor(outputId, op, 'output 0');
  const weights = weightTensor(context, op);
  const inChannels = input.shape[input.shape.length - 1];
  let outChannels: number;
  let fusedCode: number;

  if (code === BuiltinOperator.CONV_2D) {
    const options = readConvOptions(requireOptions(context, op, BuiltinOptionsType.Conv2DOptions, 'Conv2DOptions'));
    requireNhwc(context, op, input, 'an input');
    if (weights.shape.length !== 4 || weights.shape[1] !== 1 || weights.shape[2] !== 1 || weights.shape[3] !== inChannels) {
      throw context.unsupported(op, `has weights [${weights.shape}] for input [${input.shape}]`, 'a pointwise CONV_2D needs weights [out, 1, 1, in].');
    }
    convGeometry(context, op, options, 1, 1, input, output, null);
    if (options.strideH !== 1) {
      throw context.unsupported(op, `is a 1x1 convolution with stride ${options.strideH}`, 'pointwise layers must have stride 1.');
    }
    outChannels = weights.shape[0];
    fusedCode = options.activation;
  } else if (code === BuiltinOperator.FULLY_CONNECTED) {
    const options = readFullyConnectedOptions(requireOptions(context, op, BuiltinOptionsType.FullyConnectedOptions, 'FullyConnectedOptions'));
    if (options.weightsFormat !== 0) {
      throw context.unsupported(op, `stores its weights in format ${options.weightsFormat}`, 'only the DEFAULT weights format (0) is supported.');
    }
    if (weights.shape.length !== 2 || weights.shape[1] !== inChannels) {
      throw context.unsupported(op, `has weights [${weights.shape}] for input [${input.shape}]`, 'FULLY_CONNECTED weights must be [out, in].');
    }
    if (elementCount(input.shape) !== inChannels) {
      throw context.unsupported(
        op,
        `reads input [${input.shape}] with more than one row`,
        'the classifier must read the pooled feature vector of one image.',
      );
    }
    outChannels = weights.shape[0];
    fusedCode = options.activation;
  } else {
    throw context.unsupported(op, 'is not a pointwise layer', 'expected a 1x1 CONV_2D or FULLY_CONNECTED here.');
  }
  if (output.shape[output.shape.length - 1] !== outChannels) {
    throw context.unsupported(op, `outputs [${output.shape}] for ${outChannels} output channels`, 'the shapes do not chain; the file is corrupt.');
  }

  const weight = transposeOutIn(context.constant(op.inputs[1], op, 'input 1 (weights)'), outChannels, inChannels);
  const bias = readBias(context, op, outChannels);
  const { activation, output: after } = readActivation(cursor, op, fusedCode, outputId);
  return {
    layer: {
      inChannels,
      outChannels,
      activation,
      weight,
      bias,
      ...gridField(context.grid(after, op, 'output')),
      ...weightScalesField(weights, 0),
    },
    output: after,
  };
}

/**
 * `{ weightScales }` for integer weights quantized per tensor or along the output-channel axis,
 * so the executor can recover their integer values; nothing for float weights.
 */
function weightScalesField(weights: TfliteTensor, outputAxis: number): { weightScales?: Float32Array } {
  const quantization = weights.quantization;
  if (weights.type !== TensorType.INT8 && weights.type !== TensorType.UINT8) return {};
  if (!quantization || quantization.scale.length === 0) return {};
  if (quantization.scale.length > 1 && quantization.quantizedDimension !== outputAxis) return {};
  return { weightScales: Float32Array.from(quantization.scale) };
}

/** True when the operator is a CONV_2D whose weights have a 1x1 kernel. */
export function isPointwiseConv(context: MappingContext, op: TfliteOperator): boolean {
  if (context.builtinCode(op) !== BuiltinOperator.CONV_2D || op.inputs.length < 2) return false;
  const weights = context.subgraph.tensors[context.constantAliases.get(op.inputs[1]) ?? op.inputs[1]];
  return weights !== undefined && weights.shape.length === 4 && weights.shape[1] === 1 && weights.shape[2] === 1;
}

export function requireOptions(
  context: MappingContext,
  op: TfliteOperator,
  type: number,
  typeName: string,
): ReturnType<typeof optionsOf> & object {
  const options = optionsOf(op, type, typeName, context.opName(op), context.source);
  if (options === null) {
    throw context.unsupported(op, `has no ${typeName}`, 'the file is corrupt or was written by an incompatible converter.');
  }
  return options;
}

/** `{ outputGrid }` for an integer tensor, or nothing for a float one, so float layers carry no grid field. */
export function gridField(grid: QuantGrid | undefined): { outputGrid?: QuantGrid } {
  return grid === undefined ? {} : { outputGrid: grid };
}

/** True for activation tensor types of an integer pipeline. */
export function isIntegerType(type: number): boolean {
  return type === TensorType.INT8 || type === TensorType.UINT8;
}
