import { validatePixelData } from './pixels.js';
import { BilinearResizer, validateOutputSize } from './resize.js';
import { PillowResizer } from './resize-pillow.js';
import type { PixelData } from './types.js';

export interface PreprocessOptions {
  /** Model input width in pixels. */
  width: number;
  /** Model input height in pixels. */
  height: number;
  /**
   * 'stretch' (default) resizes the whole image and ignores its aspect ratio.
   * 'center-crop' first crops the largest centered region with the aspect ratio of
   * width x height, then resizes that region.
   */
  fit?: 'stretch' | 'center-crop';
  /** Per-channel RGB value subtracted after resizing, in the 0..255 scale. */
  mean: [number, number, number];
  /** Per-channel RGB divisor applied after subtracting the mean. */
  std: [number, number, number];
  /**
   * Produces integers 0..255, as models that take uint8 input need, by resizing
   * with Pillow's 8-bit fixed-point bilinear arithmetic: the values equal what
   * PIL's Image.resize(size, BILINEAR) gives on the same RGB pixels.
   */
  round?: boolean;
}

/** A crop region in input pixels. */
export interface CropRegion {
  x: number;
  y: number;
  width: number;
  height: number;
}

// Shared by every preprocessInto call, so repeated calls with one geometry reuse its
// buffers. Calls run to completion synchronously, so they never overlap.
const sharedResizer = new BilinearResizer();
const sharedPillowResizer = new PillowResizer();

/**
 * Returns the largest region centered in a sourceWidth x sourceHeight image whose
 * aspect ratio is targetWidth : targetHeight, rounded to whole pixels.
 */
export function centerCropRegion(
  sourceWidth: number,
  sourceHeight: number,
  targetWidth: number,
  targetHeight: number,
): CropRegion {
  let width = sourceWidth;
  let height = sourceHeight;
  if (sourceWidth * targetHeight > sourceHeight * targetWidth) {
    width = Math.min(sourceWidth, Math.max(1, Math.round((sourceHeight * targetWidth) / targetHeight)));
  } else {
    height = Math.min(sourceHeight, Math.max(1, Math.round((sourceWidth * targetHeight) / targetWidth)));
  }
  return {
    x: Math.floor((sourceWidth - width) / 2),
    y: Math.floor((sourceHeight - height) / 2),
    width,
    height,
  };
}

function validateOptions(options: PreprocessOptions): void {
  validateOutputSize(options.width, options.height, 'preprocess');

  const fit = options.fit ?? 'stretch';
  if (fit !== 'stretch' && fit !== 'center-crop') {
    throw new RangeError(`Invalid fit: expected 'stretch' or 'center-crop', but got ${JSON.stringify(fit)}.`);
  }
  validateChannelTriple(options.mean, 'mean');
  validateChannelTriple(options.std, 'std');
  if (options.std[0] === 0 || options.std[1] === 0 || options.std[2] === 0) {
    throw new RangeError(`Invalid normalization: std must have no zero entry, but got ${JSON.stringify(options.std)}.`);
  }
}

// Written without array callbacks so that a valid call allocates nothing.
function validateChannelTriple(values: readonly number[], field: string): void {
  const valid =
    Array.isArray(values) &&
    values.length === 3 &&
    Number.isFinite(values[0]) &&
    Number.isFinite(values[1]) &&
    Number.isFinite(values[2]);
  if (!valid) {
    throw new RangeError(`Invalid normalization: ${field} must be an array of 3 finite numbers (R, G, B), but got ${JSON.stringify(values)}.`);
  }
}

/**
 * Converts decoded pixels to a model input tensor and returns it as a new
 * Float32Array of shape [height, width, 3] (NHWC with batch 1, RGB).
 *
 * Steps: gray to RGB and alpha dropped, optional center crop, antialiased bilinear
 * resize, optional rounding to uint8 values, then (value - mean) / std per channel.
 */
export function preprocess(input: PixelData, options: PreprocessOptions): Float32Array {
  validateOptions(options);
  const output = new Float32Array(options.width * options.height * 3);
  return preprocessInto(input, options, output);
}

/**
 * Does what `preprocess` does but writes into `output`, which must have exactly
 * width * height * 3 elements, and returns it. Repeated calls with the same input
 * size, fit and output size allocate no typed arrays, because the filter taps and the
 * intermediate buffer are kept between calls.
 */
export function preprocessInto(input: PixelData, options: PreprocessOptions, output: Float32Array): Float32Array {
  validatePixelData(input);
  validateOptions(options);
  const { width, height, mean, std } = options;
  const expectedLength = width * height * 3;
  if (!(output instanceof Float32Array) || output.length !== expectedLength) {
    const actual = output instanceof Float32Array ? `length ${output.length}` : String(output);
    throw new RangeError(
      `preprocessInto: output must be a Float32Array of height * width * 3 = ${expectedLength} elements, but got ${actual}.`,
    );
  }

  let x = 0;
  let y = 0;
  let regionWidth = input.width;
  let regionHeight = input.height;
  if (options.fit === 'center-crop') {
    const region = centerCropRegion(input.width, input.height, width, height);
    x = region.x;
    y = region.y;
    regionWidth = region.width;
    regionHeight = region.height;
  }
  if (options.round === true) {
    sharedPillowResizer.resizeRegionInto(input, x, y, regionWidth, regionHeight, width, height, output);
  } else {
    sharedResizer.resizeRegionInto(input, x, y, regionWidth, regionHeight, width, height, output);
  }

  for (let i = 0; i < expectedLength; i += 3) {
    for (let channel = 0; channel < 3; channel++) {
      output[i + channel] = (output[i + channel] - mean[channel]) / std[channel];
    }
  }
  return output;
}
