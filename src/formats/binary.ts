// Decoders for the little-endian number arrays in model files, shared by the
// importers. On a little-endian host (x86-64 and arm64, for example) a float32
// or int32 array is one byte copy. Other hosts read each element through a DataView.

const LITTLE_ENDIAN_HOST = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Copies count little-endian float32 values from bytes into a new array. */
export function readFloat32LE(bytes: Uint8Array, count: number): Float32Array {
  const values = new Float32Array(count);
  if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(values.buffer).set(bytes.subarray(0, count * 4));
    return values;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) values[i] = view.getFloat32(4 * i, true);
  return values;
}

/** Copies count little-endian int32 values from bytes into a new array. */
export function readInt32LE(bytes: Uint8Array, count: number): Int32Array {
  const values = new Int32Array(count);
  if (LITTLE_ENDIAN_HOST) {
    new Uint8Array(values.buffer).set(bytes.subarray(0, count * 4));
    return values;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < count; i++) values[i] = view.getInt32(4 * i, true);
  return values;
}

/** Converts an IEEE 754 half-precision bit pattern to a number. */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** The value of each of the 65536 half-precision bit patterns (256 KiB), built on first use. */
let halfTable: Float32Array | null = null;

/** Decodes count little-endian float16 values from bytes. */
export function readFloat16LE(bytes: Uint8Array, count: number): Float32Array {
  if (halfTable === null) {
    halfTable = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) halfTable[bits] = halfToFloat(bits);
  }
  const table = halfTable;
  const values = new Float32Array(count);
  for (let i = 0, j = 0; i < count; i++, j += 2) values[i] = table[bytes[j] | (bytes[j + 1] << 8)];
  return values;
}

/** Returns true when every value is finite (no NaN or infinity). */
export function allFinite(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    // value - value is 0 for finite numbers and NaN for NaN and infinities.
    if (value - value !== 0) return false;
  }
  return true;
}
