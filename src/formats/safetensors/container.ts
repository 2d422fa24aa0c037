/**
 * The safetensors container: writing and checking its header, independent of
 * what the tensors mean.
 *
 *   bytes 0..8        N, the header length, unsigned 64-bit little-endian
 *   bytes 8..8+N      UTF-8 JSON object: "<tensor name>": { "dtype", "shape",
 *                     "data_offsets": [begin, end] }, plus an optional
 *                     "__metadata__" object of string values
 *   bytes 8+N..       the data section: raw little-endian tensor values, row-major;
 *                     data_offsets count from its first byte, end exclusive
 *
 * The data section must be covered exactly: tensors contiguous, no gap, no
 * overlap, nothing after the last one. The writer pads the header with spaces
 * so the data section starts at a multiple of 8 bytes.
 */

/** An invalid, truncated or unsupported model file. */
export class ModelFileError extends Error {
  override name = 'ModelFileError';
}

/** The largest header accepted, as in the safetensors reference implementation (100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

const LENGTH_PREFIX_BYTES = 8;
const METADATA_KEY = '__metadata__';

/** Bytes per element of each safetensors dtype. */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  I64: 8,
  U64: 8,
  F64: 8,
};

/** One float32 tensor to write. */
export interface TensorToWrite {
  name: string;
  shape: number[];
  data: Float32Array;
}

/** A tensor listed in a header; begin and end are byte offsets into the data section. */
export interface TensorEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** The parsed header of a safetensors file, before its tensor entries are checked. */
export interface ParsedHeader {
  /** The "__metadata__" object, or null when the file has none. */
  metadata: Record<string, string> | null;
  /** Every other key of the header JSON, in file order. */
  entries: [string, unknown][];
  /** Byte offset of the data section in the file. */
  dataOffset: number;
  /** Bytes from the data offset to the end of the file. */
  dataLength: number;
}

export const LITTLE_ENDIAN_PLATFORM = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Writes float32 tensors, in the given order, and string metadata into one safetensors file. */
export function writeSafetensors(tensors: readonly TensorToWrite[], metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { [METADATA_KEY]: metadata };
  let dataLength = 0;
  for (const tensor of tensors) {
    const byteLength = tensor.data.length * 4;
    header[tensor.name] = { dtype: 'F32', shape: tensor.shape, data_offsets: [dataLength, dataLength + byteLength] };
    dataLength += byteLength;
  }

  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.length / 8) * 8;
  const dataOffset = LENGTH_PREFIX_BYTES + headerLength;
  const file = new Uint8Array(dataOffset + dataLength);
  new DataView(file.buffer).setBigUint64(0, BigInt(headerLength), true);
  file.set(json, LENGTH_PREFIX_BYTES);
  file.fill(0x20, LENGTH_PREFIX_BYTES + json.length, dataOffset);

  let offset = dataOffset;
  for (const tensor of tensors) {
    if (LITTLE_ENDIAN_PLATFORM) {
      file.set(new Uint8Array(tensor.data.buffer, tensor.data.byteOffset, tensor.data.byteLength), offset);
    } else {
      const view = new DataView(file.buffer, offset, tensor.data.byteLength);
      for (let i = 0; i < tensor.data.length; i++) view.setFloat32(4 * i, tensor.data[i], true);
    }
    offset += tensor.data.byteLength;
  }
  return file;
}

/** True when the bytes start like a safetensors file: a header length below 4 GiB, then "{". */
export function looksLikeSafetensors(bytes: Uint8Array): boolean {
  return (
    bytes.length > LENGTH_PREFIX_BYTES &&
    bytes[4] === 0 &&
    bytes[5] === 0 &&
    bytes[6] === 0 &&
    bytes[7] === 0 &&
    bytes[LENGTH_PREFIX_BYTES] === 0x7b
  );
}

/**
 * Reads the header length and the header JSON, and checks the "__metadata__" object.
 * The tensor entries are returned unchecked; pass them to checkTensorEntries.
 */
export function parseHeader(bytes: Uint8Array, source: string): ParsedHeader {
  const fail = (problem: string) => new ModelFileError(`Invalid safetensors file ${source}: ${problem}`);
  if (bytes.length < LENGTH_PREFIX_BYTES) {
    throw fail(
      `the file has ${bytes.length} bytes, but its 8-byte header length alone needs more. ` +
        'The file is truncated; copy or convert it again.',
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw fail(
      `the header length is ${declared} bytes, more than the limit of ${MAX_HEADER_BYTES}. ` +
        'The file is corrupt or not a safetensors file.',
    );
  }
  const headerLength = Number(declared);
  const dataOffset = LENGTH_PREFIX_BYTES + headerLength;
  if (dataOffset > bytes.length) {
    throw fail(
      `the header length is ${headerLength} bytes, so the file must have at least ${dataOffset} bytes, ` +
        `but it has ${bytes.length}. The file is truncated; copy or convert it again.`,
    );
  }

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(LENGTH_PREFIX_BYTES, dataOffset));
  } catch {
    throw fail('the header is not valid UTF-8. The file is corrupt; copy or convert it again.');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw fail(`the header is not valid JSON (${(error as Error).message}). The file is corrupt; copy or convert it again.`);
  }
  if (!isPlainObject(json)) {
    throw fail(`the header must be a JSON object, but it is ${describeJson(json)}.`);
  }

  let metadata: Record<string, string> | null = null;
  const entries: [string, unknown][] = [];
  for (const [key, value] of Object.entries(json)) {
    if (key !== METADATA_KEY) {
      entries.push([key, value]);
      continue;
    }
    if (!isPlainObject(value)) throw fail(`"${METADATA_KEY}" must be an object, but it is ${describeJson(value)}.`);
    for (const [field, fieldValue] of Object.entries(value)) {
      if (typeof fieldValue !== 'string') {
        throw fail(`"${METADATA_KEY}" values must be strings, but "${field}" is ${describeJson(fieldValue)}.`);
      }
    }
    metadata = value as Record<string, string>;
  }
  return { metadata, entries, dataOffset, dataLength: bytes.length - dataOffset };
}

/**
 * Checks every tensor entry: its fields, its dtype, that its byte range lies in
 * the data section and matches its shape, and that the ranges tile the data
 * section with no gap or overlap. Returns the entries in header order.
 */
export function checkTensorEntries(header: ParsedHeader, source: string): TensorEntry[] {
  const fail = (problem: string) => new ModelFileError(`Invalid safetensors file ${source}: ${problem}`);
  const tensors = header.entries.map(([name, value]) => checkEntry(name, value, header.dataLength, fail));

  const byOffset = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  let previous: TensorEntry | null = null;
  for (const tensor of byOffset) {
    if (tensor.begin < covered) {
      throw fail(
        `tensor "${tensor.name}" (data_offsets [${tensor.begin}, ${tensor.end}]) overlaps tensor "${previous!.name}" ` +
          `(data_offsets [${previous!.begin}, ${previous!.end}]). The header is corrupt.`,
      );
    }
    if (tensor.begin > covered) {
      throw fail(`data bytes from ${covered} up to ${tensor.begin} belong to no tensor. The header is corrupt.`);
    }
    covered = tensor.end;
    previous = tensor;
  }
  if (covered !== header.dataLength) {
    throw fail(
      `the tensors cover the first ${covered} data bytes, but the data section has ${header.dataLength}. ` +
        'The file has extra bytes at the end or its header is corrupt.',
    );
  }
  return tensors;
}

/** Checks one tensor entry's fields and that its byte range lies in the data section and matches its shape. */
function checkEntry(name: string, value: unknown, dataLength: number, fail: (problem: string) => ModelFileError): TensorEntry {
  if (!isPlainObject(value)) throw fail(`tensor "${name}" must be an object, but it is ${describeJson(value)}.`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
  if (typeof dtype !== 'string' || DTYPE_BYTES[dtype] === undefined) {
    throw fail(
      `tensor "${name}" has dtype ${describeJson(dtype)}, but a safetensors dtype must be one of ` +
        `${Object.keys(DTYPE_BYTES).join(', ')}.`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((dim) => Number.isSafeInteger(dim) && dim >= 0)) {
    throw fail(`tensor "${name}" has shape ${describeJson(shape)}, but a shape must be an array of non-negative integers.`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((offset) => Number.isSafeInteger(offset) && offset >= 0) ||
    offsets[0] > offsets[1]
  ) {
    throw fail(
      `tensor "${name}" has data_offsets ${describeJson(offsets)}, but they must be [begin, end] ` +
        'with integers 0 <= begin <= end.',
    );
  }
  const [begin, end] = offsets as [number, number];
  if (end > dataLength) {
    throw fail(
      `tensor "${name}" ends at data byte ${end}, but the data section has only ${dataLength} bytes. ` +
        'The file is truncated or its header is corrupt; copy or convert it again.',
    );
  }
  let count = 1;
  for (const dim of shape as number[]) count *= dim;
  const expectedBytes = count * DTYPE_BYTES[dtype];
  if (end - begin !== expectedBytes) {
    throw fail(
      `tensor "${name}" (${dtype} [${(shape as number[]).join(', ')}]) must take ${expectedBytes} bytes, ` +
        `but its data_offsets [${begin}, ${end}] span ${end - begin}.`,
    );
  }
  return { name, dtype, shape: shape as number[], begin, end };
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Describes a JSON value for messages: strings and numbers as JSON, other values by kind. */
export function describeJson(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return value.length <= 8 ? JSON.stringify(value) : `an array of ${value.length} values`;
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return text.length <= 60 ? text : `${text.slice(0, 57)}..."`;
}
