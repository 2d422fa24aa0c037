/**
 * Constant tensors of a TFLite model as float32 values: dtype decoding,
 * dequantization, layout conversion into the graph spec's layouts, and
 * quantization grids of activation tensors.
 */
import type { QuantGrid } from '../../graph/spec.js';
import { TfliteFormatError } from './flatbuffer.js';
import { readFloat16LE, readFloat32LE, readInt32LE } from '../binary.js';
import { TensorType, tensorTypeName, type TfliteModel, type TfliteTensor } from './schema.js';

/** Describes a tensor for messages, e.g. "tensor 12 'conv/weights' (input 1 of operator 3 (CONV_2D) of m.tflite)". */
export function describeTensor(tensor: TfliteTensor, role: string): string {
  return `tensor ${tensor.index} '${tensor.name}' (${role})`;
}

export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const dim of shape) count *= dim;
  return count;
}

const BYTES_PER_ELEMENT: Partial<Record<number, number>> = {
  [TensorType.FLOAT32]: 4,
  [TensorType.FLOAT16]: 2,
  [TensorType.INT32]: 4,
  [TensorType.UINT8]: 1,
  [TensorType.INT8]: 1,
};

/**
 * Decodes a constant tensor into real values in its TFLite layout (row-major over `tensor.shape`).
 * FLOAT32 and FLOAT16 are read as they are; INT8, UINT8 and INT32 are dequantized as
 * real = (q - zeroPoint) * scale, per tensor or per channel along `quantized_dimension`.
 */
export function readConstant(model: TfliteModel, tensor: TfliteTensor, role: string, source: string): Float32Array {
  const where = describeTensor(tensor, role);
  const bytesPerElement = BYTES_PER_ELEMENT[tensor.type];
  if (bytesPerElement === undefined) {
    throw new TfliteFormatError(
      `Unsupported weight type in ${source}: ${where} must be FLOAT32, FLOAT16, INT8, UINT8 or INT32, ` +
        `but it is ${tensorTypeName(tensor.type)}. Convert the model with one of these weight types.`,
    );
  }
  if (tensor.isSparse) {
    throw new TfliteFormatError(
      `Unsupported weight storage in ${source}: ${where} is stored sparse, but only dense tensors can be read. ` +
        'Convert the model without sparsity.',
    );
  }
  if (tensor.shape.some((dim) => dim < 0)) {
    throw new TfliteFormatError(`Invalid TFLite model in ${source}: ${where} has a dynamic shape [${tensor.shape}].`);
  }

  const data = tensor.buffer < model.buffers.length ? model.buffers[tensor.buffer] : undefined;
  if (tensor.buffer === 0 || data === undefined || data.length === 0) {
    throw new TfliteFormatError(
      `Missing weights in ${source}: ${where} must have constant data, but buffer ${tensor.buffer} ` +
        `${data === undefined ? `does not exist (the model has ${model.buffers.length} buffers)` : 'is empty'}. ` +
        'The file is incomplete; export it again.',
    );
  }
  const count = elementCount(tensor.shape);
  if (data.length !== count * bytesPerElement) {
    throw new TfliteFormatError(
      `Invalid weights in ${source}: ${where} of shape [${tensor.shape}] and type ${tensorTypeName(tensor.type)} ` +
        `needs ${count * bytesPerElement} bytes, but its buffer ${tensor.buffer} has ${data.length}. ` +
        'The file is corrupt; export it again.',
    );
  }

  switch (tensor.type) {
    case TensorType.FLOAT32:
      return readFloat32LE(data, count);
    case TensorType.FLOAT16:
      return readFloat16LE(data, count);
    case TensorType.INT8:
      return dequantize(tensor, where, source, new Int8Array(data.buffer, data.byteOffset, count));
    case TensorType.UINT8:
      return dequantize(tensor, where, source, data);
    default:
      return dequantize(tensor, where, source, readInt32LE(data, count));
  }
}

/** Reads the integer elements of an INT32 constant (shapes, axes, paddings) without dequantizing them. */
export function readInt32Constant(model: TfliteModel, tensor: TfliteTensor, role: string, source: string): number[] {
  const where = describeTensor(tensor, role);
  if (tensor.type !== TensorType.INT32 && tensor.type !== TensorType.INT64) {
    throw new TfliteFormatError(
      `Unsupported TFLite model in ${source}: ${where} must be INT32 or INT64, but it is ${tensorTypeName(tensor.type)}.`,
    );
  }
  const data = model.buffers[tensor.buffer];
  const width = tensor.type === TensorType.INT32 ? 4 : 8;
  const count = elementCount(tensor.shape);
  if (tensor.buffer === 0 || data === undefined || data.length !== count * width) {
    throw new TfliteFormatError(
      `Invalid TFLite model in ${source}: ${where} must be a constant of ${count} elements ` +
        `(${count * width} bytes), but its buffer ${tensor.buffer} has ${data?.length ?? 0} bytes. ` +
        'The importer needs this value fixed in the file; export the model with static shapes.',
    );
  }
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const values: number[] = [];
  for (let i = 0; i < count; i++) {
    values.push(width === 4 ? view.getInt32(4 * i, true) : Number(view.getBigInt64(8 * i, true)));
  }
  return values;
}

function dequantize(
  tensor: TfliteTensor,
  where: string,
  source: string,
  quantized: Int8Array | Uint8Array | Int32Array,
): Float32Array {
  const quantization = tensor.quantization;
  if (quantization === null || quantization.hasCustomDetails) {
    throw new TfliteFormatError(
      `Unsupported weights in ${source}: ${where} is ${tensorTypeName(tensor.type)} and needs an affine scale ` +
        `and zero point, but ${quantization === null ? 'it has none' : 'it uses custom quantization details'}. ` +
        'Convert the model with standard post-training quantization.',
    );
  }
  const { scale, zeroPoint } = quantization;
  const count = elementCount(tensor.shape);
  const values = new Float32Array(count);

  if (scale.length === 1) {
    const zero = zeroPoint[0] ?? 0;
    for (let i = 0; i < count; i++) values[i] = (quantized[i] - zero) * scale[0];
    return values;
  }

  // Per-channel: the element at flat index i belongs to channel floor(i / inner) % channels,
  // where inner is the product of the dimensions after quantized_dimension.
  const axis = quantization.quantizedDimension;
  const channels = tensor.shape[axis];
  if (axis < 0 || axis >= tensor.shape.length || scale.length !== channels) {
    throw new TfliteFormatError(
      `Invalid quantization in ${source}: ${where} of shape [${tensor.shape}] has ${scale.length} scales ` +
        `along quantized_dimension ${axis}, but that dimension has ${channels ?? 'no'} elements. ` +
        'The file is corrupt; export it again.',
    );
  }
  if (zeroPoint.length !== 0 && zeroPoint.length !== 1 && zeroPoint.length !== channels) {
    throw new TfliteFormatError(
      `Invalid quantization in ${source}: ${where} has ${zeroPoint.length} zero points, ` +
        `but must have 1 or ${channels} (one per channel).`,
    );
  }
  const inner = elementCount(tensor.shape.slice(axis + 1));
  const zeros = Float64Array.from({ length: channels }, (_, c) => (zeroPoint.length === channels ? zeroPoint[c] : (zeroPoint[0] ?? 0)));
  // Runs of inner elements share a channel, and the channel cycles through 0..channels-1.
  for (let start = 0, channel = 0; start < count; start += inner) {
    const zero = zeros[channel];
    const channelScale = scale[channel];
    const end = Math.min(start + inner, count);
    for (let i = start; i < end; i++) values[i] = (quantized[i] - zero) * channelScale;
    if (++channel === channels) channel = 0;
  }
  return values;
}

/** CONV_2D weights: OHWI [out, kh, kw, in] -> HWIO [kh, kw, in, out]. */
export function ohwiToHwio(values: Float32Array, shape: readonly number[]): Float32Array {
  const [outChannels, kernelH, kernelW, inChannels] = shape;
  const result = new Float32Array(values.length);
  for (let o = 0; o < outChannels; o++) {
    for (let y = 0; y < kernelH; y++) {
      for (let x = 0; x < kernelW; x++) {
        for (let i = 0; i < inChannels; i++) {
          const from = ((o * kernelH + y) * kernelW + x) * inChannels + i;
          const to = ((y * kernelW + x) * inChannels + i) * outChannels + o;
          result[to] = values[from];
        }
      }
    }
  }
  return result;
}

/** FULLY_CONNECTED weights [out, in] (or a 1x1 CONV_2D's [out, 1, 1, in]) -> [in, out]. */
export function transposeOutIn(values: Float32Array, outChannels: number, inChannels: number): Float32Array {
  const result = new Float32Array(values.length);
  for (let o = 0; o < outChannels; o++) {
    for (let i = 0; i < inChannels; i++) result[i * outChannels + o] = values[o * inChannels + i];
  }
  return result;
}

/**
 * Returns the grid of an activation tensor of an integer model, or undefined for a float tensor.
 * qmin and qmax come from the dtype; a fused activation may clamp tighter, which the executor applies itself.
 */
export function gridOf(tensor: TfliteTensor, where: string, source: string): QuantGrid | undefined {
  if (tensor.type === TensorType.FLOAT32 || tensor.type === TensorType.FLOAT16) return undefined;
  let qmin: number;
  let qmax: number;
  if (tensor.type === TensorType.INT8) {
    qmin = -128;
    qmax = 127;
  } else if (tensor.type === TensorType.UINT8) {
    qmin = 0;
    qmax = 255;
  } else {
    throw new TfliteFormatError(
      `Unsupported activation type in ${source}: ${where} must be FLOAT32, INT8 or UINT8, ` +
        `but it is ${tensorTypeName(tensor.type)}. Convert the model with int8 or uint8 activations, or keep it float.`,
    );
  }
  const quantization = tensor.quantization;
  if (quantization === null || quantization.scale.length !== 1 || !(quantization.scale[0] > 0)) {
    throw new TfliteFormatError(
      `Invalid quantization in ${source}: ${where} is ${tensorTypeName(tensor.type)} and must have one positive ` +
        `scale, but it has ${quantization === null ? 'no quantization' : `scales [${quantization.scale}]`}. ` +
        'The file is corrupt or uses a quantization scheme the importer does not read.',
    );
  }
  return { scale: quantization.scale[0], zeroPoint: quantization.zeroPoint[0] ?? 0, qmin, qmax };
}

/** True when two grids hold the same set of real values (for example int8 zp -128 and uint8 zp 0 at one scale). */
export function sameRealGrid(a: QuantGrid, b: QuantGrid): boolean {
  const relative = Math.abs(a.scale - b.scale) / Math.max(a.scale, b.scale);
  return relative < 1e-6 && a.qmin - a.zeroPoint === b.qmin - b.zeroPoint && a.qmax - a.zeroPoint === b.qmax - b.zeroPoint;
}
