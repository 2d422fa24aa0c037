import type { PixelData } from './types.js';

/** Returns true when `value` is an object with a `data` field. `validatePixelData` checks the rest. */
export function isPixelData(value: unknown): value is PixelData {
  return typeof value === 'object' && value !== null && !(value instanceof Uint8Array) && !(value instanceof ArrayBuffer) && 'data' in value;
}

function describeValue(value: unknown): string {
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null) return 'null';
  if (typeof value === 'object') return value.constructor?.name ?? 'object';
  return typeof value;
}

function validateDimension(value: unknown, field: string): void {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new RangeError(`Invalid PixelData: ${field} must be a positive integer, but got ${describeValue(value)}.`);
  }
}

/**
 * Throws a `TypeError` or `RangeError` unless `pixels` is well-formed: `width` and `height`
 * positive integers, `channels` 1 to 4, and `data` a `Uint8Array` or `Uint8ClampedArray`
 * of exactly width * height * channels bytes. The message names the field, the expected
 * value and the actual value.
 */
export function validatePixelData(pixels: PixelData): void {
  const { data, width, height, channels } = pixels as unknown as Record<string, unknown>;

  validateDimension(width, 'width');
  validateDimension(height, 'height');
  if (channels !== 1 && channels !== 2 && channels !== 3 && channels !== 4) {
    throw new RangeError(
      `Invalid PixelData: channels must be 1 (gray), 2 (gray and alpha), 3 (RGB) or 4 (RGBA), but got ${describeValue(channels)}.`,
    );
  }
  if (!(data instanceof Uint8Array) && !(data instanceof Uint8ClampedArray)) {
    throw new TypeError(
      `Invalid PixelData: data must be a Uint8Array or Uint8ClampedArray, but got ${describeValue(data)}; ` +
        'pass 8-bit interleaved pixels.',
    );
  }

  const w = width as number;
  const h = height as number;
  const expectedLength = w * h * channels;
  if (data.length !== expectedLength) {
    throw new RangeError(
      `Invalid PixelData: data length must be width * height * channels = ${w} * ${h} * ${channels} = ` +
        `${expectedLength}, but got ${data.length}; pass tightly packed rows with no padding.`,
    );
  }
}

/**
 * Converts pixels to 3-channel RGB: alpha is dropped and gray is copied to R, G and B.
 * Returns the input object itself when it already has 3 channels.
 */
export function toRgb(pixels: PixelData): PixelData {
  validatePixelData(pixels);
  const { data, width, height, channels } = pixels;
  if (channels === 3) return pixels;

  const pixelCount = width * height;
  const rgb = new Uint8Array(pixelCount * 3);
  for (let i = 0; i < pixelCount; i++) {
    const source = i * channels;
    const target = i * 3;
    if (channels <= 2) {
      const gray = data[source];
      rgb[target] = gray;
      rgb[target + 1] = gray;
      rgb[target + 2] = gray;
    } else {
      rgb[target] = data[source];
      rgb[target + 1] = data[source + 1];
      rgb[target + 2] = data[source + 2];
    }
  }
  return { data: rgb, width, height, channels: 3 };
}
