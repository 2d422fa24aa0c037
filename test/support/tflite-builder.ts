/**
 * Writes small TFLite models (and TFLite metadata) with flatbuffers.Builder,
 * so importer tests can cover operators, options and corrupt values that the
 * fixture models do not contain. Field slots follow TensorFlow Lite's schema.fbs
 * and metadata_schema.fbs, as in src/formats/tflite/schema.ts.
 */
import { Builder } from 'flatbuffers';
import { deflateRawSync } from 'node:zlib';
import { crc32 } from '../../src/formats/tflite/zip.js';

export const TYPE = { FLOAT32: 0, FLOAT16: 1, INT32: 2, UINT8: 3, INT64: 4, INT16: 7, INT8: 9 } as const;

export const OP = {
  ADD: 0,
  AVERAGE_POOL_2D: 1,
  CONV_2D: 3,
  DEPTHWISE_CONV_2D: 4,
  DEQUANTIZE: 6,
  FULLY_CONNECTED: 9,
  LOGISTIC: 14,
  LSTM: 16,
  MUL: 18,
  RESHAPE: 22,
  SOFTMAX: 25,
  TANH: 28,
  CUSTOM: 32,
  PAD: 34,
  MEAN: 40,
  QUANTIZE: 114,
  /** A code above 127, stored only in the int32 builtin_code field. */
  GELU: 150,
} as const;

export const ACT = { NONE: 0, RELU: 1, RELU_N1_TO_1: 2, RELU6: 3, TANH: 4 } as const;
export const PADDING = { SAME: 0, VALID: 1 } as const;

export interface TensorSpec {
  shape: number[];
  type: number;
  /** Constant bytes; absent for activations. */
  data?: Uint8Array;
  quantization?: { scale: number[]; zeroPoint: number[]; quantizedDimension?: number };
  name?: string;
}

type OptionField =
  | { id: number; int8: number }
  | { id: number; int32: number }
  | { id: number; float32: number }
  | { id: number; int32Vector: number[] };

export interface OptionsSpec {
  /** BuiltinOptions union tag. */
  type: number;
  fields: OptionField[];
}

export interface OperatorSpec {
  code: number;
  customCode?: string;
  inputs: number[];
  outputs: number[];
  options?: OptionsSpec;
}

export interface ModelSpec {
  tensors: TensorSpec[];
  operators: OperatorSpec[];
  inputs: number[];
  outputs: number[];
  /** Extra model metadata entries, each stored in a buffer of its own. */
  metadata?: { name: string; data: Uint8Array }[];
  /** Bytes appended after the FlatBuffer (the metadata zip). */
  appendix?: Uint8Array;
  /** Number of subgraphs to write; 0 writes an empty subgraph list. */
  subgraphCount?: number;
}

export const options = {
  conv: (stride: number, padding: number, activation: number): OptionsSpec => ({
    type: 1,
    fields: [{ id: 0, int8: padding }, { id: 1, int32: stride }, { id: 2, int32: stride }, { id: 3, int8: activation }],
  }),
  depthwise: (stride: number, padding: number, activation: number): OptionsSpec => ({
    type: 2,
    fields: [
      { id: 0, int8: padding },
      { id: 1, int32: stride },
      { id: 2, int32: stride },
      { id: 3, int32: 1 },
      { id: 4, int8: activation },
    ],
  }),
  pool: (filter: number): OptionsSpec => ({
    type: 5,
    fields: [{ id: 0, int8: PADDING.VALID }, { id: 1, int32: 1 }, { id: 2, int32: 1 }, { id: 3, int32: filter }, { id: 4, int32: filter }],
  }),
  fullyConnected: (activation: number): OptionsSpec => ({ type: 8, fields: [{ id: 0, int8: activation }] }),
  softmax: (beta = 1): OptionsSpec => ({ type: 9, fields: [{ id: 0, float32: beta }] }),
  add: (activation = ACT.NONE): OptionsSpec => ({ type: 11, fields: [{ id: 0, int8: activation }] }),
  mul: (activation = ACT.NONE): OptionsSpec => ({ type: 21, fields: [{ id: 0, int8: activation }] }),
  reshape: (shape: number[]): OptionsSpec => ({ type: 17, fields: [{ id: 0, int32Vector: shape }] }),
  reducer: (keepDims: boolean): OptionsSpec => ({ type: 27, fields: [{ id: 0, int8: keepDims ? 1 : 0 }] }),
};

export function float32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Float32Array(values).buffer);
}

export function int32Bytes(values: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(values).buffer);
}

/** Encodes numbers as IEEE half floats; exact for the small dyadic values the tests use. */
export function float16Bytes(values: number[]): Uint8Array {
  const out = new Uint16Array(values.length);
  values.forEach((value, i) => {
    if (value === 0) return;
    const sign = value < 0 ? 0x8000 : 0;
    const exponent = Math.floor(Math.log2(Math.abs(value)));
    const mantissa = Math.round((Math.abs(value) / 2 ** exponent - 1) * 1024);
    out[i] = sign | ((exponent + 15) << 10) | mantissa;
  });
  return new Uint8Array(out.buffer);
}

function int32Vector(builder: Builder, values: number[]): number {
  builder.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) builder.addInt32(values[i]);
  return builder.endVector();
}

function float32Vector(builder: Builder, values: number[]): number {
  builder.startVector(4, values.length, 4);
  for (let i = values.length - 1; i >= 0; i--) builder.addFloat32(values[i]);
  return builder.endVector();
}

function offsetVector(builder: Builder, offsets: number[]): number {
  builder.startVector(4, offsets.length, 4);
  for (let i = offsets.length - 1; i >= 0; i--) builder.addOffset(offsets[i]);
  return builder.endVector();
}

function buildOptions(builder: Builder, spec: OptionsSpec): number {
  const vectors = new Map<number, number>();
  for (const field of spec.fields) {
    if ('int32Vector' in field) vectors.set(field.id, int32Vector(builder, field.int32Vector));
  }
  builder.startObject(Math.max(...spec.fields.map((field) => field.id)) + 1);
  for (const field of spec.fields) {
    if ('int8' in field) builder.addFieldInt8(field.id, field.int8, null);
    else if ('int32' in field) builder.addFieldInt32(field.id, field.int32, null);
    else if ('float32' in field) builder.addFieldFloat32(field.id, field.float32, null);
    else builder.addFieldOffset(field.id, vectors.get(field.id)!, 0);
  }
  return builder.endObject();
}

/** Builds a .tflite file from the spec: buffer 0 is the empty sentinel and each constant gets its own buffer. */
export function buildTflite(spec: ModelSpec): Uint8Array {
  const builder = new Builder(1024);

  const bufferData: (Uint8Array | null)[] = [null];
  const tensorBuffers = spec.tensors.map((tensor) => {
    if (!tensor.data) return 0;
    bufferData.push(tensor.data);
    return bufferData.length - 1;
  });
  const metadataBuffers = (spec.metadata ?? []).map((entry) => {
    bufferData.push(entry.data);
    return bufferData.length - 1;
  });

  const tensors = spec.tensors.map((tensor, index) => {
    const name = builder.createString(tensor.name ?? `tensor_${index}`);
    const shape = int32Vector(builder, tensor.shape);
    let quantization = 0;
    if (tensor.quantization) {
      const scale = float32Vector(builder, tensor.quantization.scale);
      builder.startVector(8, tensor.quantization.zeroPoint.length, 8);
      for (let i = tensor.quantization.zeroPoint.length - 1; i >= 0; i--) builder.addInt64(BigInt(tensor.quantization.zeroPoint[i]));
      const zeroPoint = builder.endVector();
      builder.startObject(7);
      builder.addFieldOffset(2, scale, 0);
      builder.addFieldOffset(3, zeroPoint, 0);
      builder.addFieldInt32(6, tensor.quantization.quantizedDimension ?? 0, 0);
      quantization = builder.endObject();
    }
    builder.startObject(5);
    builder.addFieldOffset(0, shape, 0);
    builder.addFieldInt8(1, tensor.type, null);
    builder.addFieldInt32(2, tensorBuffers[index], 0);
    builder.addFieldOffset(3, name, 0);
    if (quantization) builder.addFieldOffset(4, quantization, 0);
    return builder.endObject();
  });

  const codes: { code: number; customCode?: string }[] = [];
  const opcodeIndex = spec.operators.map((op) => {
    let index = codes.findIndex((entry) => entry.code === op.code && entry.customCode === op.customCode);
    if (index < 0) index = codes.push({ code: op.code, customCode: op.customCode }) - 1;
    return index;
  });
  const operatorCodes = codes.map((entry) => {
    const custom = entry.customCode ? builder.createString(entry.customCode) : 0;
    builder.startObject(4);
    builder.addFieldInt8(0, Math.min(entry.code, 127), null);
    if (custom) builder.addFieldOffset(1, custom, 0);
    builder.addFieldInt32(2, 1, null);
    builder.addFieldInt32(3, entry.code, null);
    return builder.endObject();
  });

  const operators = spec.operators.map((op, index) => {
    const inputs = int32Vector(builder, op.inputs);
    const outputs = int32Vector(builder, op.outputs);
    const optionsTable = op.options ? buildOptions(builder, op.options) : 0;
    builder.startObject(5);
    builder.addFieldInt32(0, opcodeIndex[index], null);
    builder.addFieldOffset(1, inputs, 0);
    builder.addFieldOffset(2, outputs, 0);
    if (op.options) {
      builder.addFieldInt8(3, op.options.type, null);
      builder.addFieldOffset(4, optionsTable, 0);
    }
    return builder.endObject();
  });

  const subgraphCount = spec.subgraphCount ?? 1;
  const subgraphs: number[] = [];
  for (let s = 0; s < subgraphCount; s++) {
    const tensorVector = offsetVector(builder, tensors);
    const inputs = int32Vector(builder, spec.inputs);
    const outputs = int32Vector(builder, spec.outputs);
    const operatorVector = offsetVector(builder, operators);
    const name = builder.createString(`subgraph_${s}`);
    builder.startObject(5);
    builder.addFieldOffset(0, tensorVector, 0);
    builder.addFieldOffset(1, inputs, 0);
    builder.addFieldOffset(2, outputs, 0);
    builder.addFieldOffset(3, operatorVector, 0);
    builder.addFieldOffset(4, name, 0);
    subgraphs.push(builder.endObject());
  }

  const buffers = bufferData.map((data) => {
    const vector = data ? builder.createByteVector(data) : 0;
    builder.startObject(1);
    if (vector) builder.addFieldOffset(0, vector, 0);
    return builder.endObject();
  });
  const metadata = (spec.metadata ?? []).map((entry, index) => {
    const name = builder.createString(entry.name);
    builder.startObject(2);
    builder.addFieldOffset(0, name, 0);
    builder.addFieldInt32(1, metadataBuffers[index], null);
    return builder.endObject();
  });

  const operatorCodeVector = offsetVector(builder, operatorCodes);
  const subgraphVector = offsetVector(builder, subgraphs);
  const bufferVector = offsetVector(builder, buffers);
  const metadataVector = offsetVector(builder, metadata);
  const description = builder.createString('built by test/support/tflite-builder.ts');
  builder.startObject(7);
  builder.addFieldInt32(0, 3, null);
  builder.addFieldOffset(1, operatorCodeVector, 0);
  builder.addFieldOffset(2, subgraphVector, 0);
  builder.addFieldOffset(3, description, 0);
  builder.addFieldOffset(4, bufferVector, 0);
  builder.addFieldOffset(6, metadataVector, 0);
  builder.finish(builder.endObject(), 'TFL3');

  const model = builder.asUint8Array();
  if (!spec.appendix) return model.slice();
  const file = new Uint8Array(model.length + spec.appendix.length);
  file.set(model);
  file.set(spec.appendix, model.length);
  return file;
}

export interface MetadataSpec {
  name: string;
  mean?: number[];
  std?: number[];
  labelFile?: string;
}

/** Builds a ModelMetadata FlatBuffer ("M001") with one subgraph, one input and one output tensor. */
export function buildMetadata(spec: MetadataSpec): Uint8Array {
  const builder = new Builder(256);
  let processUnits = 0;
  if (spec.mean && spec.std) {
    const mean = float32Vector(builder, spec.mean);
    const std = float32Vector(builder, spec.std);
    builder.startObject(2);
    builder.addFieldOffset(0, mean, 0);
    builder.addFieldOffset(1, std, 0);
    const normalization = builder.endObject();
    builder.startObject(2);
    builder.addFieldInt8(0, 1, null);
    builder.addFieldOffset(1, normalization, 0);
    processUnits = offsetVector(builder, [builder.endObject()]);
  }
  builder.startObject(7);
  if (processUnits) builder.addFieldOffset(4, processUnits, 0);
  const input = builder.endObject();

  let files = 0;
  if (spec.labelFile) {
    const fileName = builder.createString(spec.labelFile);
    builder.startObject(4);
    builder.addFieldOffset(0, fileName, 0);
    builder.addFieldInt8(2, 2, null);
    files = offsetVector(builder, [builder.endObject()]);
  }
  builder.startObject(7);
  if (files) builder.addFieldOffset(6, files, 0);
  const output = builder.endObject();

  const inputs = offsetVector(builder, [input]);
  const outputs = offsetVector(builder, [output]);
  builder.startObject(5);
  builder.addFieldOffset(2, inputs, 0);
  builder.addFieldOffset(3, outputs, 0);
  const subgraphs = offsetVector(builder, [builder.endObject()]);
  const name = builder.createString(spec.name);
  builder.startObject(8);
  builder.addFieldOffset(0, name, 0);
  builder.addFieldOffset(3, subgraphs, 0);
  builder.finish(builder.endObject(), 'M001');
  return builder.asUint8Array().slice();
}

/** Builds a zip archive of deflate-compressed entries, with offsets relative to the archive start. */
export function buildZip(entries: { name: string; data: Uint8Array }[]): Uint8Array {
  const chunks: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = new TextEncoder().encode(entry.name);
    const compressed = new Uint8Array(deflateRawSync(entry.data));
    const crc = crc32(entry.data);
    const local = new DataView(new ArrayBuffer(30));
    local.setUint32(0, 0x04034b50, true);
    local.setUint16(4, 20, true);
    local.setUint16(8, 8, true);
    local.setUint32(14, crc, true);
    local.setUint32(18, compressed.length, true);
    local.setUint32(22, entry.data.length, true);
    local.setUint16(26, name.length, true);
    const header = new DataView(new ArrayBuffer(46));
    header.setUint32(0, 0x02014b50, true);
    header.setUint16(4, 20, true);
    header.setUint16(6, 20, true);
    header.setUint16(10, 8, true);
    header.setUint32(16, crc, true);
    header.setUint32(20, compressed.length, true);
    header.setUint32(24, entry.data.length, true);
    header.setUint16(28, name.length, true);
    header.setUint32(42, offset, true);
    chunks.push(new Uint8Array(local.buffer), name, compressed);
    central.push(new Uint8Array(header.buffer), name);
    offset += 30 + name.length + compressed.length;
  }
  const centralSize = central.reduce((sum, chunk) => sum + chunk.length, 0);
  const end = new DataView(new ArrayBuffer(22));
  end.setUint32(0, 0x06054b50, true);
  end.setUint16(8, entries.length, true);
  end.setUint16(10, entries.length, true);
  end.setUint32(12, centralSize, true);
  end.setUint32(16, offset, true);
  const all = [...chunks, ...central, new Uint8Array(end.buffer)];
  const zip = new Uint8Array(all.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of all) {
    zip.set(chunk, at);
    at += chunk.length;
  }
  return zip;
}
