/**
 * Typed accessors for the TFLite model FlatBuffer (file identifier "TFL3"),
 * written from the field ids of TensorFlow Lite's tensorflow/lite/schema/schema.fbs.
 * A field's vtable slot is its declaration index; a union takes two slots
 * (its type tag first, then its table).
 */
import { FlatBuffer, FlatTable, TfliteFormatError } from './flatbuffer.js';

import { TFLITE_IDENTIFIER } from '../sniff.js';

export { TFLITE_IDENTIFIER };

/** TensorType values from schema.fbs. */
export const TensorType = {
  FLOAT32: 0,
  FLOAT16: 1,
  INT32: 2,
  UINT8: 3,
  INT64: 4,
  STRING: 5,
  BOOL: 6,
  INT16: 7,
  COMPLEX64: 8,
  INT8: 9,
  FLOAT64: 10,
  COMPLEX128: 11,
  UINT64: 12,
  RESOURCE: 13,
  VARIANT: 14,
  UINT32: 15,
  UINT16: 16,
  INT4: 17,
} as const;

const TENSOR_TYPE_NAMES = Object.fromEntries(Object.entries(TensorType).map(([name, code]) => [code, name]));

export function tensorTypeName(type: number): string {
  return TENSOR_TYPE_NAMES[type] ?? `unknown type ${type}`;
}

/** BuiltinOperator names indexed by code, as in schema.fbs (codes 0..161). */
const BUILTIN_OPERATOR_NAMES: readonly string[] = [
  'ADD', 'AVERAGE_POOL_2D', 'CONCATENATION', 'CONV_2D', 'DEPTHWISE_CONV_2D', 'DEPTH_TO_SPACE', 'DEQUANTIZE',
  'EMBEDDING_LOOKUP', 'FLOOR', 'FULLY_CONNECTED', 'HASHTABLE_LOOKUP', 'L2_NORMALIZATION', 'L2_POOL_2D',
  'LOCAL_RESPONSE_NORMALIZATION', 'LOGISTIC', 'LSH_PROJECTION', 'LSTM', 'MAX_POOL_2D', 'MUL', 'RELU',
  'RELU_N1_TO_1', 'RELU6', 'RESHAPE', 'RESIZE_BILINEAR', 'RNN', 'SOFTMAX', 'SPACE_TO_DEPTH', 'SVDF', 'TANH',
  'CONCAT_EMBEDDINGS', 'SKIP_GRAM', 'CALL', 'CUSTOM', 'EMBEDDING_LOOKUP_SPARSE', 'PAD',
  'UNIDIRECTIONAL_SEQUENCE_RNN', 'GATHER', 'BATCH_TO_SPACE_ND', 'SPACE_TO_BATCH_ND', 'TRANSPOSE', 'MEAN', 'SUB',
  'DIV', 'SQUEEZE', 'UNIDIRECTIONAL_SEQUENCE_LSTM', 'STRIDED_SLICE', 'BIDIRECTIONAL_SEQUENCE_RNN', 'EXP', 'TOPK_V2',
  'SPLIT', 'LOG_SOFTMAX', 'DELEGATE', 'BIDIRECTIONAL_SEQUENCE_LSTM', 'CAST', 'PRELU', 'MAXIMUM', 'ARG_MAX',
  'MINIMUM', 'LESS', 'NEG', 'PADV2', 'GREATER', 'GREATER_EQUAL', 'LESS_EQUAL', 'SELECT', 'SLICE', 'SIN',
  'TRANSPOSE_CONV', 'SPARSE_TO_DENSE', 'TILE', 'EXPAND_DIMS', 'EQUAL', 'NOT_EQUAL', 'LOG', 'SUM', 'SQRT', 'RSQRT',
  'SHAPE', 'POW', 'ARG_MIN', 'FAKE_QUANT', 'REDUCE_PROD', 'REDUCE_MAX', 'PACK', 'LOGICAL_OR', 'ONE_HOT',
  'LOGICAL_AND', 'LOGICAL_NOT', 'UNPACK', 'REDUCE_MIN', 'FLOOR_DIV', 'REDUCE_ANY', 'SQUARE', 'ZEROS_LIKE', 'FILL',
  'FLOOR_MOD', 'RANGE', 'RESIZE_NEAREST_NEIGHBOR', 'LEAKY_RELU', 'SQUARED_DIFFERENCE', 'MIRROR_PAD', 'ABS',
  'SPLIT_V', 'UNIQUE', 'CEIL', 'REVERSE_V2', 'ADD_N', 'GATHER_ND', 'COS', 'WHERE', 'RANK', 'ELU',
  'REVERSE_SEQUENCE', 'MATRIX_DIAG', 'QUANTIZE', 'MATRIX_SET_DIAG', 'ROUND', 'HARD_SWISH', 'IF', 'WHILE',
  'NON_MAX_SUPPRESSION_V4', 'NON_MAX_SUPPRESSION_V5', 'SCATTER_ND', 'SELECT_V2', 'DENSIFY', 'SEGMENT_SUM',
  'BATCH_MATMUL', 'PLACEHOLDER_FOR_GREATER_OP_CODES', 'CUMSUM', 'CALL_ONCE', 'BROADCAST_TO', 'RFFT2D', 'CONV_3D',
  'IMAG', 'REAL', 'COMPLEX_ABS', 'HASHTABLE', 'HASHTABLE_FIND', 'HASHTABLE_IMPORT', 'HASHTABLE_SIZE', 'REDUCE_ALL',
  'CONV_3D_TRANSPOSE', 'VAR_HANDLE', 'READ_VARIABLE', 'ASSIGN_VARIABLE', 'BROADCAST_ARGS',
  'RANDOM_STANDARD_NORMAL', 'BUCKETIZE', 'RANDOM_UNIFORM', 'MULTINOMIAL', 'GELU', 'DYNAMIC_UPDATE_SLICE',
  'RELU_0_TO_1', 'UNSORTED_SEGMENT_PROD', 'UNSORTED_SEGMENT_MAX', 'UNSORTED_SEGMENT_SUM', 'ATAN2',
  'UNSORTED_SEGMENT_MIN', 'SIGN', 'BITCAST', 'BITWISE_XOR', 'RIGHT_SHIFT',
];

/** The BuiltinOperator codes the importer maps. */
export const BuiltinOperator = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  LOGISTIC: 14,
  MUL: 18,
  RESHAPE: 22,
  SOFTMAX: 25,
  CUSTOM: 32,
  PAD: 34,
  MEAN: 40,
  SUB: 41,
  SQUEEZE: 43,
  PADV2: 60,
  QUANTIZE: 114,
  HARD_SWISH: 117,
} as const;

export function builtinOperatorName(code: number): string {
  return BUILTIN_OPERATOR_NAMES[code] ?? `BUILTIN_${code}`;
}

/** BuiltinOptions union tags from schema.fbs (the position of each table in the union, from 1). */
export const BuiltinOptionsType = {
  NONE: 0,
  Conv2DOptions: 1,
  DepthwiseConv2DOptions: 2,
  Pool2DOptions: 5,
  FullyConnectedOptions: 8,
  SoftmaxOptions: 9,
  AddOptions: 11,
  ReshapeOptions: 17,
  MulOptions: 21,
  PadOptions: 22,
  ReducerOptions: 27,
  SqueezeOptions: 30,
} as const;

/** ActivationFunctionType values from schema.fbs. */
export const FusedActivation = {
  NONE: 0,
  RELU: 1,
  RELU_N1_TO_1: 2,
  RELU6: 3,
  TANH: 4,
  SIGN_BIT: 5,
} as const;

const FUSED_ACTIVATION_NAMES = Object.fromEntries(Object.entries(FusedActivation).map(([name, code]) => [code, name]));

export function fusedActivationName(code: number): string {
  return FUSED_ACTIVATION_NAMES[code] ?? `unknown activation ${code}`;
}

/** Padding enum of schema.fbs. */
export const TflitePadding = { SAME: 0, VALID: 1 } as const;

export interface QuantizationParameters {
  scale: number[];
  zeroPoint: number[];
  quantizedDimension: number;
  /** True when the `details` union (custom quantization) is set, which the importer cannot read. */
  hasCustomDetails: boolean;
}

export interface TfliteTensor {
  index: number;
  name: string;
  shape: number[];
  type: number;
  /** Index into Model.buffers; 0 is the empty sentinel buffer of activations. */
  buffer: number;
  quantization: QuantizationParameters | null;
  isSparse: boolean;
}

export interface TfliteOperator {
  index: number;
  opcodeIndex: number;
  inputs: number[];
  outputs: number[];
  optionsType: number;
  options: FlatTable | null;
}

export interface TfliteSubgraph {
  name: string;
  tensors: TfliteTensor[];
  inputs: number[];
  outputs: number[];
  operators: TfliteOperator[];
}

export interface TfliteOperatorCode {
  builtinCode: number;
  customCode: string | null;
  version: number;
}

export interface TfliteMetadataEntry {
  name: string;
  buffer: number;
}

export interface TfliteModel {
  version: number;
  description: string | null;
  operatorCodes: TfliteOperatorCode[];
  subgraphs: TfliteSubgraph[];
  /** Constant data of each buffer (views into the file); empty for buffer 0 and for activations. */
  buffers: Uint8Array[];
  metadata: TfliteMetadataEntry[];
}

/** Reads the structure of a TFLite model; tensor data stay views into `bytes`. */
export function readTfliteModel(bytes: Uint8Array, source: string): TfliteModel {
  const file = new FlatBuffer(bytes, source, 'TFLite model');
  const model = file.root('Model');

  const operatorCodes = (model.tableVector(1, 'operator_codes', 'OperatorCode') ?? []).map(readOperatorCode);
  const subgraphs = (model.tableVector(2, 'subgraphs', 'SubGraph') ?? []).map(readSubgraph);
  const buffers = (model.tableVector(4, 'buffers', 'Buffer') ?? []).map((table, index) => readBuffer(file, table, index));
  const metadata = (model.tableVector(6, 'metadata', 'Metadata') ?? []).map((table) => ({
    name: table.string(0, 'name') ?? '',
    buffer: table.uint32(1, 'buffer'),
  }));

  return {
    version: model.uint32(0, 'version'),
    description: model.string(3, 'description'),
    operatorCodes,
    subgraphs,
    buffers,
    metadata,
  };
}

function readOperatorCode(table: FlatTable): TfliteOperatorCode {
  // Files written before the int32 builtin_code field existed only set the int8
  // deprecated_builtin_code; newer files set both, with the small one capped at 127.
  const deprecated = table.int8(0, 'deprecated_builtin_code');
  const extended = table.int32(3, 'builtin_code');
  return {
    builtinCode: Math.max(deprecated, extended),
    customCode: table.string(1, 'custom_code'),
    version: table.int32(2, 'version', 1),
  };
}

function readSubgraph(table: FlatTable): TfliteSubgraph {
  const tensors = (table.tableVector(0, 'tensors', 'Tensor') ?? []).map(readTensor);
  const operators = (table.tableVector(3, 'operators', 'Operator') ?? []).map((op, index) => ({
    index,
    opcodeIndex: op.uint32(0, 'opcode_index'),
    inputs: op.int32Vector(1, 'inputs') ?? [],
    outputs: op.int32Vector(2, 'outputs') ?? [],
    optionsType: op.uint8(3, 'builtin_options_type'),
    options: op.table(4, 'builtin_options', 'BuiltinOptions'),
  }));
  return {
    name: table.string(4, 'name') ?? '',
    tensors,
    inputs: table.int32Vector(1, 'inputs') ?? [],
    outputs: table.int32Vector(2, 'outputs') ?? [],
    operators,
  };
}

function readTensor(table: FlatTable, index: number): TfliteTensor {
  const quantization = table.table(4, 'quantization', 'QuantizationParameters');
  return {
    index,
    name: table.string(3, 'name') ?? `#${index}`,
    shape: table.int32Vector(0, 'shape') ?? [],
    type: table.int8(1, 'type'),
    buffer: table.uint32(2, 'buffer'),
    quantization: quantization ? readQuantization(quantization) : null,
    isSparse: table.has(6),
  };
}

function readQuantization(table: FlatTable): QuantizationParameters | null {
  const scale = table.float32Vector(2, 'scale') ?? [];
  const zeroPoint = table.int64Vector(3, 'zero_point') ?? [];
  const hasCustomDetails = table.uint8(4, 'details_type') !== 0;
  // Converters often write an empty QuantizationParameters table for float tensors.
  if (scale.length === 0 && !hasCustomDetails) return null;
  return { scale, zeroPoint, quantizedDimension: table.int32(6, 'quantized_dimension'), hasCustomDetails };
}

function readBuffer(file: FlatBuffer, table: FlatTable, index: number): Uint8Array {
  const data = table.bytesVector(0, 'data');
  if (data !== null && data.length > 0) return data;

  // Models above 2 GB keep constant data after the FlatBuffer, addressed from the start of the file.
  const offset = table.uint64(1, 'offset');
  const size = table.uint64(2, 'size');
  if (offset > 1) {
    file.require(offset, size, `buffer ${index} (stored outside the FlatBuffer)`);
    return file.bytes.subarray(offset, offset + size);
  }
  return data ?? new Uint8Array(0);
}

/** Conv2DOptions. */
export interface ConvOptions {
  padding: number;
  strideW: number;
  strideH: number;
  activation: number;
  dilationW: number;
  dilationH: number;
}

export function readConvOptions(table: FlatTable): ConvOptions {
  return {
    padding: table.int8(0, 'padding'),
    strideW: table.int32(1, 'stride_w'),
    strideH: table.int32(2, 'stride_h'),
    activation: table.int8(3, 'fused_activation_function'),
    dilationW: table.int32(4, 'dilation_w_factor', 1),
    dilationH: table.int32(5, 'dilation_h_factor', 1),
  };
}

/** DepthwiseConv2DOptions. */
export interface DepthwiseOptions extends ConvOptions {
  depthMultiplier: number;
}

export function readDepthwiseOptions(table: FlatTable): DepthwiseOptions {
  return {
    padding: table.int8(0, 'padding'),
    strideW: table.int32(1, 'stride_w'),
    strideH: table.int32(2, 'stride_h'),
    depthMultiplier: table.int32(3, 'depth_multiplier'),
    activation: table.int8(4, 'fused_activation_function'),
    dilationW: table.int32(5, 'dilation_w_factor', 1),
    dilationH: table.int32(6, 'dilation_h_factor', 1),
  };
}

/** Pool2DOptions. */
export interface PoolOptions {
  padding: number;
  strideW: number;
  strideH: number;
  filterWidth: number;
  filterHeight: number;
  activation: number;
}

export function readPoolOptions(table: FlatTable): PoolOptions {
  return {
    padding: table.int8(0, 'padding'),
    strideW: table.int32(1, 'stride_w'),
    strideH: table.int32(2, 'stride_h'),
    filterWidth: table.int32(3, 'filter_width'),
    filterHeight: table.int32(4, 'filter_height'),
    activation: table.int8(5, 'fused_activation_function'),
  };
}

/** FullyConnectedOptions. */
export interface FullyConnectedOptions {
  activation: number;
  /** 0 is DEFAULT; 1 is SHUFFLED4x16INT8, a packed layout the importer cannot read. */
  weightsFormat: number;
  keepNumDims: boolean;
}

export function readFullyConnectedOptions(table: FlatTable): FullyConnectedOptions {
  return {
    activation: table.int8(0, 'fused_activation_function'),
    weightsFormat: table.int8(1, 'weights_format'),
    keepNumDims: table.bool(2, 'keep_num_dims'),
  };
}

/** Reads the fused activation of AddOptions or MulOptions (field 0 in both). */
export function readElementwiseActivation(table: FlatTable): number {
  return table.int8(0, 'fused_activation_function');
}

/** SoftmaxOptions.beta. */
export function readSoftmaxBeta(table: FlatTable): number {
  return table.float32(0, 'beta');
}

/** ReducerOptions.keep_dims. */
export function readReducerKeepDims(table: FlatTable): boolean {
  return table.bool(0, 'keep_dims');
}

/** Reads the options table of `op`, checking that its union tag names the expected table. */
export function optionsOf(
  op: TfliteOperator,
  expectedType: number,
  expectedName: string,
  opName: string,
  source: string,
): FlatTable | null {
  if (op.options === null) return null;
  if (op.optionsType !== expectedType) {
    throw new TfliteFormatError(
      `Invalid TFLite model in ${source}: operator ${op.index} (${opName}) must carry ${expectedName} ` +
        `(builtin_options_type ${expectedType}), but its builtin_options_type is ${op.optionsType}. ` +
        'The file is corrupt or was written by an incompatible converter; export it again.',
    );
  }
  return op.options;
}
