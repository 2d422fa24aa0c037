/**
 * Maps the operator list of a TFLite subgraph onto the MBConv-family graph:
 *
 *   [input affine: QUANTIZE, MUL/ADD/SUB by constants]  (folded into the normalization)
 *   stem CONV_2D (k > 1)
 *   blocks: [1x1 CONV_2D expand] -> DEPTHWISE_CONV_2D -> [squeeze-excite] -> 1x1 CONV_2D project -> [ADD block input]
 *   [1x1 CONV_2D head] -> [AVERAGE_POOL_2D or MEAN] -> [FULLY_CONNECTED or 1x1 CONV_2D] -> [SOFTMAX]
 *
 * PAD/PADV2 merge into the following convolution; RESHAPE, SQUEEZE and
 * grid-preserving QUANTIZE/DEQUANTIZE pass the tensor through.
 */
import type { Classifier, Graph, MBConvBlock, PoolLayer, PointwiseLayer, QuantGrid, SqueezeExcite } from '../../graph/spec.js';
import { TfliteFormatError } from './flatbuffer.js';
import {
  checkNoFusedActivation,
  expectInput,
  gridField,
  isIntegerType,
  isPointwiseConv,
  mapConv,
  mapDepthwise,
  mapPointwise,
  MappingContext,
  OperatorCursor,
  readPad,
  requireOptions,
  type PendingPad,
} from './layers.js';
import {
  BuiltinOperator,
  BuiltinOptionsType,
  builtinOperatorName,
  readPoolOptions,
  readReducerKeepDims,
  readSoftmaxBeta,
  tensorTypeName,
  TensorType,
  type TfliteModel,
  type TfliteOperator,
} from './schema.js';
import { gridOf, sameRealGrid } from './tensors.js';

const SUPPORTED_OPERATORS = [
  BuiltinOperator.CONV_2D,
  BuiltinOperator.DEPTHWISE_CONV_2D,
  BuiltinOperator.ADD,
  BuiltinOperator.AVERAGE_POOL_2D,
  BuiltinOperator.MEAN,
  BuiltinOperator.FULLY_CONNECTED,
  BuiltinOperator.RESHAPE,
  BuiltinOperator.SQUEEZE,
  BuiltinOperator.SOFTMAX,
  BuiltinOperator.PAD,
  BuiltinOperator.PADV2,
  BuiltinOperator.QUANTIZE,
  BuiltinOperator.DEQUANTIZE,
  BuiltinOperator.MUL,
  BuiltinOperator.SUB,
  BuiltinOperator.LOGISTIC,
  BuiltinOperator.HARD_SWISH,
];

const SUPPORTED_NAMES = SUPPORTED_OPERATORS.map(builtinOperatorName).join(', ');

/** Per-channel affine map of the operators between the model input and the stem: stemInput = input * gain + offset. */
export interface InputAffine {
  gain: [number, number, number];
  offset: [number, number, number];
}

export interface MappedSubgraph {
  graph: Graph;
  inputAffine: InputAffine;
  /** Grid of the final output tensor, for integer models. */
  outputGrid: QuantGrid | undefined;
}

/** Returns the main subgraph after checking that it is a single-input, single-output image model. */
function mainSubgraph(model: TfliteModel, source: string) {
  const subgraph = model.subgraphs[0];
  if (subgraph === undefined) {
    throw new TfliteFormatError(`Invalid TFLite model in ${source}: it must have at least 1 subgraph, but it has none. Export it again.`);
  }
  // Further subgraphs only run through CALL, IF or WHILE, which the operator check rejects, so they need no check here.
  if (subgraph.inputs.length !== 1 || subgraph.outputs.length !== 1) {
    throw new TfliteFormatError(
      `Unsupported TFLite model in ${source}: the main subgraph must have 1 input and 1 output, ` +
        `but it has ${subgraph.inputs.length} inputs and ${subgraph.outputs.length} outputs. ` +
        'Export a single-image classifier or feature extractor.',
    );
  }
  return subgraph;
}

/** Maps subgraph 0 of `model` onto a Graph. */
export function mapSubgraph(model: TfliteModel, source: string): MappedSubgraph {
  const subgraph = mainSubgraph(model, source);
  const context = new MappingContext(model, subgraph, source);
  checkOperators(context);
  const operators = subgraph.operators.filter((op) => !foldConstantConversion(context, op));
  const cursor = new OperatorCursor(context, operators);

  const inputId = subgraph.inputs[0];
  const input = subgraph.tensors[inputId];
  if (input === undefined) {
    throw new TfliteFormatError(`Invalid TFLite model in ${source}: the subgraph input is tensor ${inputId}, which does not exist.`);
  }
  checkModelInput(input.shape, input.type, source);

  const prefix = readInputAffine(cursor, inputId);
  let current = prefix.output;
  const inputGrid = gridOf(subgraph.tensors[current], 'the stem input', source);

  let pending = takePad(cursor, current);
  current = pending.current;
  const stemOp = cursor.peek();
  if (stemOp === undefined || context.builtinCode(stemOp) !== BuiltinOperator.CONV_2D || isPointwiseConv(context, stemOp)) {
    throw unexpected(context, stemOp, 'the stem: a CONV_2D with a kernel larger than 1x1 reading the model input');
  }
  const stem = mapConv(cursor, current, pending.pad);
  current = stem.output;

  const blocks: MBConvBlock[] = [];
  let head: PointwiseLayer | null = null;
  for (;;) {
    current = skipIdentities(cursor, current);
    const op = cursor.peek();
    if (op === undefined) break;
    const code = context.builtinCode(op);
    if (code === BuiltinOperator.DEPTHWISE_CONV_2D || code === BuiltinOperator.PAD || code === BuiltinOperator.PADV2) {
      const block = mapBlock(cursor, current, null, blocks.length);
      blocks.push(block.block);
      current = block.output;
      continue;
    }
    if (!isPointwiseConv(context, op)) break;

    const pointwise = mapPointwise(cursor, current);
    const afterPointwise = skipIdentities(cursor, pointwise.output);
    const next = cursor.peek();
    const nextCode = next === undefined ? undefined : context.builtinCode(next);
    const startsDepthwise =
      next !== undefined &&
      next.inputs[0] === afterPointwise &&
      (nextCode === BuiltinOperator.DEPTHWISE_CONV_2D || nextCode === BuiltinOperator.PAD || nextCode === BuiltinOperator.PADV2);
    if (!startsDepthwise) {
      head = pointwise.layer;
      current = afterPointwise;
      break;
    }
    const block = mapBlock(cursor, current, { layer: pointwise.layer, output: afterPointwise }, blocks.length);
    blocks.push(block.block);
    current = block.output;
  }

  current = skipIdentities(cursor, current);
  let pool: PoolLayer | null = null;
  const poolOp = cursor.peek();
  const poolCode = poolOp === undefined ? undefined : context.builtinCode(poolOp);
  if (poolCode === BuiltinOperator.AVERAGE_POOL_2D || poolCode === BuiltinOperator.MEAN) {
    const mapped = mapPool(cursor, current);
    pool = mapped.layer;
    current = skipIdentities(cursor, mapped.output);
  }

  let classifier: Classifier | null = null;
  const classifierOp = cursor.peek();
  if (pool !== null && classifierOp !== undefined) {
    const code = context.builtinCode(classifierOp);
    if (code === BuiltinOperator.FULLY_CONNECTED || isPointwiseConv(context, classifierOp)) {
      const mapped = mapClassifier(cursor, current);
      classifier = mapped.layer;
      current = mapped.output;
    }
  }

  if (!cursor.done) {
    throw unexpected(context, cursor.peek(), `the end of the model after ${describePosition(blocks.length, head, pool, classifier)}`);
  }
  if (current !== subgraph.outputs[0]) {
    throw new TfliteFormatError(
      `Unsupported TFLite model in ${source}: the mapped chain ends at tensor ${current}, but the model output is ` +
        `tensor ${subgraph.outputs[0]}. The output must be produced by the last operator of the chain.`,
    );
  }

  const graph: Graph = {
    inputHeight: input.shape[1],
    inputWidth: input.shape[2],
    inputChannels: input.shape[3],
    ...(inputGrid ? { inputGrid } : {}),
    stem: stem.layer,
    blocks,
    head,
    pool,
    classifier,
  };
  return {
    graph,
    inputAffine: prefix.affine,
    outputGrid: gridOf(subgraph.tensors[current], 'the model output', source),
  };
}

function checkModelInput(shape: number[], type: number, source: string): void {
  if (shape.length !== 4 || shape[0] !== 1 || shape[3] !== 3 || shape[1] < 1 || shape[2] < 1) {
    const problem =
      shape.length !== 4
        ? `must be NHWC [1, height, width, 3], but it is [${shape}]`
        : shape[0] !== 1
          ? `must have batch size 1, but it has ${shape[0]}`
          : shape[3] !== 3
            ? `must have 3 channels (RGB), but it has ${shape[3]}`
            : `must have a fixed height and width, but it is [${shape}]`;
    throw new TfliteFormatError(`Unsupported TFLite model in ${source}: the model input ${problem}. Export the model for single RGB images.`);
  }
  if (type !== TensorType.FLOAT32 && type !== TensorType.UINT8 && type !== TensorType.INT8) {
    throw new TfliteFormatError(
      `Unsupported TFLite model in ${source}: the model input must be FLOAT32, UINT8 or INT8, but it is ${tensorTypeName(type)}. ` +
        'Export the model with one of these input types.',
    );
  }
}

/** Rejects any operator outside the supported set before the pattern is matched, naming it and its index. */
function checkOperators(context: MappingContext): void {
  for (const op of context.subgraph.operators) {
    const name = context.opName(op);
    const code = context.builtinCode(op);
    if (!SUPPORTED_OPERATORS.includes(code as (typeof SUPPORTED_OPERATORS)[number])) {
      throw new TfliteFormatError(
        `Unsupported TFLite operator ${name} (operator ${op.index} of ${context.source}). ` +
          `Supported: ${SUPPORTED_NAMES}. Export an EfficientNet-Lite, EfficientNet or MobileNetV2-style classifier that uses only these.`,
      );
    }
  }
}

/**
 * Records a QUANTIZE or DEQUANTIZE of a constant (as float16 models do for their weights) as an alias
 * of that constant, and returns true so the operator leaves the chain.
 */
function foldConstantConversion(context: MappingContext, op: TfliteOperator): boolean {
  const code = context.builtinCode(op);
  if (code !== BuiltinOperator.DEQUANTIZE && code !== BuiltinOperator.QUANTIZE) return false;
  if (op.inputs.length !== 1 || op.outputs.length !== 1 || !context.isConstant(op.inputs[0])) return false;
  context.constantAliases.set(op.outputs[0], context.constantAliases.get(op.inputs[0]) ?? op.inputs[0]);
  return true;
}

/**
 * Consumes RESHAPE and SQUEEZE operators that only add or drop size-1 axes, and QUANTIZE or
 * DEQUANTIZE operators that keep the real values of their input exactly.
 */
function skipIdentities(cursor: OperatorCursor, current: number, allowRequantize = false): number {
  const context = cursor.context;
  for (;;) {
    const op = cursor.peek();
    if (op === undefined || op.inputs[0] !== current) return current;
    const code = context.builtinCode(op);
    if (code !== BuiltinOperator.RESHAPE && code !== BuiltinOperator.SQUEEZE && code !== BuiltinOperator.QUANTIZE && code !== BuiltinOperator.DEQUANTIZE) {
      return current;
    }
    cursor.next();
    const input = context.tensor(current, op, 'input 0');
    const outputId = op.outputs[0];
    const output = context.tensor(outputId, op, 'output 0');

    if (code === BuiltinOperator.RESHAPE || code === BuiltinOperator.SQUEEZE) {
      const nonUnitAxes = (shape: number[]) => shape.filter((dim) => dim !== 1).join(',');
      if (nonUnitAxes(input.shape) !== nonUnitAxes(output.shape)) {
        throw context.unsupported(
          op,
          `reshapes [${input.shape}] into [${output.shape}]`,
          'only reshapes that add or drop axes of size 1 are supported.',
        );
      }
    }
    const inputGrid = gridOf(input, `input 0 of ${context.where(op)}`, context.source);
    const outputGrid = gridOf(output, `output 0 of ${context.where(op)}`, context.source);
    const lossless = outputGrid === undefined || (inputGrid !== undefined && sameRealGrid(inputGrid, outputGrid));
    if (!lossless && !allowRequantize) {
      throw context.unsupported(
        op,
        `moves its input from ${describeGrid(inputGrid)} onto ${describeGrid(outputGrid)}`,
        'only conversions that keep the real values are supported between layers, because the graph has no separate requantization step.',
      );
    }
    current = outputId;
  }
}

function describeGrid(grid: QuantGrid | undefined): string {
  return grid === undefined ? 'float values' : `the grid scale ${grid.scale} zero point ${grid.zeroPoint}`;
}

/**
 * Folds the operators between the model input and the stem (type conversions and
 * elementwise MUL, ADD or SUB by constants with 1 or 3 values) into a per-channel affine map.
 */
function readInputAffine(cursor: OperatorCursor, inputId: number): { affine: InputAffine; output: number } {
  const context = cursor.context;
  const affine: InputAffine = { gain: [1, 1, 1], offset: [0, 0, 0] };
  let current = inputId;
  for (;;) {
    // NOTE: for an integer model each step below is rounded onto its own grid, but only the last grid
    // (graph.inputGrid) is applied, so a chain whose intermediate grids lose precision maps approximately.
    current = skipIdentities(cursor, current, true);
    const op = cursor.peek();
    if (op === undefined || op.inputs[0] !== current) return { affine, output: current };
    const code = context.builtinCode(op);
    if (code !== BuiltinOperator.MUL && code !== BuiltinOperator.ADD && code !== BuiltinOperator.SUB) {
      return { affine, output: current };
    }
    cursor.next();
    if (op.inputs.length !== 2 || !context.isConstant(op.inputs[1])) {
      throw context.unsupported(
        op,
        'combines the model input with a non-constant tensor',
        'before the stem only MUL, ADD or SUB by a constant is supported (input scaling).',
      );
    }
    if (code !== BuiltinOperator.SUB) checkNoFusedActivation(context, op);
    const constant = context.constant(op.inputs[1], op, 'input 1');
    if (constant.length !== 1 && constant.length !== 3) {
      throw context.unsupported(op, `has a constant of ${constant.length} values`, 'input scaling needs 1 value or 1 per RGB channel.');
    }
    for (let c = 0; c < 3; c++) {
      const value = constant.length === 1 ? constant[0] : constant[c];
      if (code === BuiltinOperator.MUL) {
        affine.gain[c] *= value;
        affine.offset[c] *= value;
      } else {
        affine.offset[c] += code === BuiltinOperator.ADD ? value : -value;
      }
    }
    current = op.outputs[0];
  }
}

function takePad(cursor: OperatorCursor, current: number): { pad: PendingPad | null; current: number } {
  const context = cursor.context;
  const op = cursor.peek();
  if (op === undefined || op.inputs[0] !== current) return { pad: null, current };
  const code = context.builtinCode(op);
  if (code !== BuiltinOperator.PAD && code !== BuiltinOperator.PADV2) return { pad: null, current };
  cursor.next();
  const pad = readPad(context, op);
  const next = cursor.peek();
  const nextCode = next === undefined ? undefined : context.builtinCode(next);
  if (nextCode !== BuiltinOperator.CONV_2D && nextCode !== BuiltinOperator.DEPTHWISE_CONV_2D) {
    throw context.unsupported(
      op,
      `is followed by ${next === undefined ? 'nothing' : context.where(next)}`,
      'PAD is supported only directly before a CONV_2D or DEPTHWISE_CONV_2D, into which it is merged.',
    );
  }
  return { pad, current: op.outputs[0] };
}

function mapBlock(
  cursor: OperatorCursor,
  blockInput: number,
  expand: { layer: PointwiseLayer; output: number } | null,
  index: number,
): { block: MBConvBlock; output: number } {
  const context = cursor.context;
  const padded = takePad(cursor, expand ? expand.output : blockInput);
  const depthwise = mapDepthwise(cursor, padded.current, padded.pad);
  let current = skipIdentities(cursor, depthwise.output);

  const se = mapSqueezeExcite(cursor, current, index);
  if (se !== null) current = skipIdentities(cursor, se.output);

  const projectOp = cursor.peek();
  if (projectOp === undefined || !isPointwiseConv(context, projectOp)) {
    throw unexpected(context, projectOp, `the 1x1 CONV_2D projection of block ${index}`);
  }
  const project = mapPointwise(cursor, current);
  if (project.layer.activation !== 'linear') {
    throw context.unsupported(
      projectOp,
      `is the projection of block ${index} but has activation ${project.layer.activation}`,
      'an MBConv projection must be linear (fused activation NONE).',
    );
  }
  current = project.output;

  const inChannels = expand ? expand.layer.inChannels : depthwise.layer.channels;
  const outChannels = project.layer.outChannels;
  let residual = false;
  let residualGrid: QuantGrid | undefined;
  const addOp = cursor.peek();
  if (
    addOp !== undefined &&
    context.builtinCode(addOp) === BuiltinOperator.ADD &&
    addOp.inputs.length === 2 &&
    addOp.inputs.includes(current) &&
    addOp.inputs.includes(blockInput)
  ) {
    cursor.next();
    checkNoFusedActivation(context, addOp);
    if (depthwise.layer.stride !== 1 || inChannels !== outChannels) {
      throw context.unsupported(
        addOp,
        `adds the input of block ${index} to its output, but the block has stride ${depthwise.layer.stride} and ${inChannels} -> ${outChannels} channels`,
        'a residual needs stride 1 and equal input and output channels; the file is corrupt.',
      );
    }
    residual = true;
    residualGrid = context.grid(addOp.outputs[0], addOp, 'output 0');
    current = addOp.outputs[0];
  }

  const block: MBConvBlock = {
    inChannels,
    outChannels,
    expand: expand ? expand.layer : null,
    depthwise: depthwise.layer,
    se: se ? se.layer : null,
    project: project.layer,
    residual,
    ...(residualGrid ? { residualGrid } : {}),
  };
  return { block, output: current };
}

/**
 * Maps the squeeze-excite pattern of EfficientNet (MEAN over height and width, reducing
 * 1x1 conv or dense, expanding 1x1 conv or dense with LOGISTIC, MUL by the depthwise output).
 */
function mapSqueezeExcite(cursor: OperatorCursor, features: number, index: number): { layer: SqueezeExcite; output: number } | null {
  const context = cursor.context;
  const meanOp = cursor.peek();
  if (meanOp === undefined || context.builtinCode(meanOp) !== BuiltinOperator.MEAN || meanOp.inputs[0] !== features) return null;
  // A MEAN is squeeze-excite only when a later MUL scales the same features by its result.
  // The global pool MEAN has no such MUL.
  const mul = context.subgraph.operators.find(
    (op) => op.index > meanOp.index && context.builtinCode(op) === BuiltinOperator.MUL && op.inputs.includes(features),
  );
  if (mul === undefined) return null;

  if (context.grid(features, meanOp, 'input 0') !== undefined) {
    throw context.unsupported(
      meanOp,
      `starts the squeeze-excite of block ${index} in an integer-quantized model`,
      'the graph spec has no quantization grid for the pooled and the rescaled squeeze-excite tensors, so integer squeeze-excite ' +
        'cannot follow the TFLite integer pipeline. Use the float model or EfficientNet-Lite, which has no squeeze-excite.',
    );
  }
  const pooled = mapPool(cursor, features);
  let current = skipIdentities(cursor, pooled.output);
  const reduce = mapPointwise(cursor, current);
  current = skipIdentities(cursor, reduce.output);
  const expand = mapPointwise(cursor, current);
  current = skipIdentities(cursor, expand.output);
  if (expand.layer.activation !== 'sigmoid') {
    throw context.unsupported(
      meanOp,
      `starts a squeeze-excite in block ${index} whose expanding layer has activation ${expand.layer.activation}`,
      'the squeeze-excite gate must be a LOGISTIC (sigmoid).',
    );
  }
  const mulOp = cursor.peek();
  if (mulOp === undefined || context.builtinCode(mulOp) !== BuiltinOperator.MUL || !mulOp.inputs.includes(current) || !mulOp.inputs.includes(features)) {
    throw unexpected(context, mulOp, `the MUL that scales the block ${index} features by the squeeze-excite gate`);
  }
  cursor.next();
  checkNoFusedActivation(context, mulOp);
  return { layer: { reduce: reduce.layer, expand: expand.layer }, output: mulOp.outputs[0] };
}

/** Maps AVERAGE_POOL_2D over the whole map or MEAN over axes [1, 2] onto a global average pool. */
function mapPool(cursor: OperatorCursor, current: number): { layer: PoolLayer; output: number } {
  const context = cursor.context;
  const op = cursor.next();
  expectInput(context, op, current);
  const input = context.tensor(current, op, 'input 0');
  const outputId = op.outputs[0];
  const output = context.tensor(outputId, op, 'output 0');
  if (input.shape.length !== 4) {
    throw context.unsupported(op, `pools a tensor of shape [${input.shape}]`, 'pooling needs an NHWC input.');
  }
  const [, height, width, channels] = input.shape;

  if (context.builtinCode(op) === BuiltinOperator.AVERAGE_POOL_2D) {
    const options = readPoolOptions(requireOptions(context, op, BuiltinOptionsType.Pool2DOptions, 'Pool2DOptions'));
    if (options.filterHeight !== height || options.filterWidth !== width || output.shape[1] !== 1 || output.shape[2] !== 1) {
      throw context.unsupported(
        op,
        `pools with a ${options.filterHeight}x${options.filterWidth} window over a ${height}x${width} map into [${output.shape}]`,
        'only a global average pool (window equal to the whole map, 1x1 output) is supported.',
      );
    }
    if (options.activation !== 0) {
      throw context.unsupported(op, 'has a fused activation', 'the global pool must have fused activation NONE.');
    }
  } else {
    const axes = context.int32Constant(op.inputs[1], op, 'input 1 (axes)').map((axis) => (axis < 0 ? axis + 4 : axis));
    const sorted = [...new Set(axes)].sort().join(',');
    if (sorted !== '1,2') {
      throw context.unsupported(op, `averages over axes [${axes}]`, 'only MEAN over height and width (axes [1, 2]) is supported.');
    }
    const options = op.options ? readReducerKeepDims(requireOptions(context, op, BuiltinOptionsType.ReducerOptions, 'ReducerOptions')) : false;
    const expected = options ? [1, 1, 1, channels] : [1, channels];
    if (output.shape.join(',') !== expected.join(',')) {
      throw context.unsupported(op, `outputs [${output.shape}] from [${input.shape}]`, `MEAN with keep_dims ${options} must output [${expected}].`);
    }
  }
  return { layer: { type: 'avg', ...gridField(context.grid(outputId, op, 'output 0')) }, output: outputId };
}

function mapClassifier(cursor: OperatorCursor, current: number): { layer: Classifier; output: number } {
  const context = cursor.context;
  const op = cursor.peek()!;
  const input = context.tensor(current, op, 'input 0');
  if (context.builtinCode(op) === BuiltinOperator.CONV_2D && (input.shape[1] !== 1 || input.shape[2] !== 1)) {
    throw context.unsupported(op, `is a 1x1 CONV_2D classifier on a ${input.shape[1]}x${input.shape[2]} map`, 'a convolutional classifier must read the pooled 1x1 map.');
  }
  const dense = mapPointwise(cursor, current);
  if (dense.layer.activation !== 'linear') {
    throw context.unsupported(op, `is the classifier but has activation ${dense.layer.activation}`, 'the classifier must be linear (fused activation NONE).');
  }
  const logitsGrid = dense.layer.outputGrid;
  let output: 'softmax' | 'logits' = 'logits';
  let last = skipIdentities(cursor, dense.output);

  const softmaxOp = cursor.peek();
  if (softmaxOp !== undefined && context.builtinCode(softmaxOp) === BuiltinOperator.SOFTMAX) {
    cursor.next();
    expectInput(context, softmaxOp, last);
    const options = requireOptions(context, softmaxOp, BuiltinOptionsType.SoftmaxOptions, 'SoftmaxOptions');
    const beta = readSoftmaxBeta(options);
    if (beta !== 1) {
      throw context.unsupported(softmaxOp, `has beta ${beta}`, 'only SOFTMAX with beta 1 is supported.');
    }
    output = 'softmax';
    last = skipIdentities(cursor, softmaxOp.outputs[0]);
  }
  return { layer: { ...dense.layer, output, ...(logitsGrid ? { logitsGrid } : {}) }, output: last };
}

function describePosition(blocks: number, head: PointwiseLayer | null, pool: PoolLayer | null, classifier: Classifier | null): string {
  if (classifier) return 'the classifier';
  if (pool) return 'the global pool';
  if (head) return 'the head convolution';
  return blocks > 0 ? `block ${blocks - 1}` : 'the stem';
}

function unexpected(context: MappingContext, op: TfliteOperator | undefined, expected: string): TfliteFormatError {
  if (op === undefined) {
    return new TfliteFormatError(
      `Unsupported TFLite model: ${context.source} ends where the importer expected ${expected}. ` +
        'Only EfficientNet-Lite, EfficientNet and MobileNetV2-style classifiers can be imported.',
    );
  }
  return new TfliteFormatError(
    `Unsupported TFLite model: ${context.where(op)} does not fit the MBConv pattern here; expected ${expected}. ` +
      'Only EfficientNet-Lite, EfficientNet and MobileNetV2-style classifiers can be imported.',
  );
}
