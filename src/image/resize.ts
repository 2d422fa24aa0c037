/**
 * Antialiased bilinear resizing in float.
 *
 * The filter is a triangle of radius 1 input pixel. When shrinking by a factor s > 1 its
 * radius widens to s input pixels, so every input pixel contributes and fine detail
 * does not alias. This is how Pillow's BILINEAR resample and TensorFlow's bilinear
 * resize with `antialias=True` behave. Pixel centers are aligned (output pixel i
 * maps to input coordinate (i + 0.5) * s), and near the edges the weights of the
 * taps that fall inside the image are renormalized to sum to 1.
 *
 * Pillow rounds the horizontal pass to uint8 and uses 22-bit fixed-point weights,
 * while this code keeps both passes in float, so results differ from Pillow's by
 * at most about one level after rounding.
 */
import { validatePixelData } from './pixels.js';
import type { PixelData } from './types.js';

/** Tap table of one axis: for output index i, `count[i]` weights starting at input index `start[i]`. */
export interface AxisTaps {
  regionStart: number;
  regionLength: number;
  outputLength: number;
  /** Maximum taps per output index; output i's weights are at `weights[i * maxTaps ...]`. */
  maxTaps: number;
  start: Int32Array;
  count: Int32Array;
  weights: Float64Array;
}

function triangle(x: number): number {
  const distance = Math.abs(x);
  return distance < 1 ? 1 - distance : 0;
}

/**
 * Computes the taps that resize the input range [regionStart, regionStart + regionLength)
 * to `outputLength` samples. Tap indices are absolute input indices and never leave
 * the range. Equal lengths give one tap of weight 1 per output, an exact copy.
 */
export function computeAxisTaps(regionStart: number, regionLength: number, outputLength: number): AxisTaps {
  if (regionLength === outputLength) {
    const start = new Int32Array(outputLength);
    for (let i = 0; i < outputLength; i++) start[i] = regionStart + i;
    return {
      regionStart,
      regionLength,
      outputLength,
      maxTaps: 1,
      start,
      count: new Int32Array(outputLength).fill(1),
      weights: new Float64Array(outputLength).fill(1),
    };
  }

  const scale = regionLength / outputLength;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const maxTaps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outputLength);
  const count = new Int32Array(outputLength);
  const weights = new Float64Array(outputLength * maxTaps);

  for (let i = 0; i < outputLength; i++) {
    const center = (i + 0.5) * scale;
    const first = Math.max(Math.floor(center - support + 0.5), 0);
    const end = Math.min(Math.floor(center + support + 0.5), regionLength);
    const base = i * maxTaps;

    let total = 0;
    for (let j = first; j < end; j++) {
      const weight = triangle((j + 0.5 - center) / filterScale);
      weights[base + j - first] = weight;
      total += weight;
    }
    // The input pixel under the center always has a positive weight, so total > 0.
    for (let k = 0; k < end - first; k++) weights[base + k] /= total;

    start[i] = regionStart + first;
    count[i] = end - first;
  }
  return { regionStart, regionLength, outputLength, maxTaps, start, count, weights };
}

/**
 * Reusable state for repeated resizes: the tap tables of the last geometry and the
 * buffer of the horizontal pass. Repeated calls with the same geometry allocate nothing.
 */
export class BilinearResizer {
  private horizontal: AxisTaps | undefined;
  private vertical: AxisTaps | undefined;
  private rowPass = new Float32Array(0);

  /**
   * Resizes the region (x, y, regionWidth, regionHeight) of `pixels` to outputWidth x
   * outputHeight and writes RGB floats in 0..255 to `output` as [outputHeight,
   * outputWidth, 3]. Gray is copied to all three channels and alpha is ignored.
   * The caller validates `pixels` and the region.
   */
  resizeRegionInto(
    pixels: PixelData,
    x: number,
    y: number,
    regionWidth: number,
    regionHeight: number,
    outputWidth: number,
    outputHeight: number,
    output: Float32Array,
  ): void {
    const horizontal = this.taps(this.horizontal, x, regionWidth, outputWidth);
    const vertical = this.taps(this.vertical, y, regionHeight, outputHeight);
    this.horizontal = horizontal;
    this.vertical = vertical;

    const rowPassLength = regionHeight * outputWidth * 3;
    if (this.rowPass.length < rowPassLength) this.rowPass = new Float32Array(rowPassLength);
    const rowPass = this.rowPass;

    // Horizontal pass: each input row of the region to outputWidth RGB samples.
    const { data, width, channels } = pixels;
    const greenOffset = channels >= 3 ? 1 : 0;
    const blueOffset = channels >= 3 ? 2 : 0;
    for (let row = 0; row < regionHeight; row++) {
      const sourceRow = (y + row) * width;
      let target = row * outputWidth * 3;
      for (let i = 0; i < outputWidth; i++) {
        const first = horizontal.start[i];
        const taps = horizontal.count[i];
        const base = i * horizontal.maxTaps;
        let red = 0;
        let green = 0;
        let blue = 0;
        for (let k = 0; k < taps; k++) {
          const weight = horizontal.weights[base + k];
          const source = (sourceRow + first + k) * channels;
          red += weight * data[source];
          green += weight * data[source + greenOffset];
          blue += weight * data[source + blueOffset];
        }
        rowPass[target] = red;
        rowPass[target + 1] = green;
        rowPass[target + 2] = blue;
        target += 3;
      }
    }

    // Vertical pass: combine rows of the horizontal result. Its row index is relative to y.
    const rowLength = outputWidth * 3;
    for (let j = 0; j < outputHeight; j++) {
      const firstRow = vertical.start[j] - y;
      const taps = vertical.count[j];
      const base = j * vertical.maxTaps;
      const target = j * rowLength;
      for (let column = 0; column < rowLength; column++) {
        let sum = 0;
        for (let k = 0; k < taps; k++) {
          sum += vertical.weights[base + k] * rowPass[(firstRow + k) * rowLength + column];
        }
        output[target + column] = sum;
      }
    }
  }

  private taps(cached: AxisTaps | undefined, regionStart: number, regionLength: number, outputLength: number): AxisTaps {
    if (
      cached !== undefined &&
      cached.regionStart === regionStart &&
      cached.regionLength === regionLength &&
      cached.outputLength === outputLength
    ) {
      return cached;
    }
    return computeAxisTaps(regionStart, regionLength, outputLength);
  }
}

export function validateOutputSize(width: number, height: number, caller: string): void {
  for (const [field, value] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new RangeError(`${caller}: ${field} must be a positive integer, but got ${value}.`);
    }
  }
}

/**
 * Resizes the whole image to width x height with antialiased bilinear filtering.
 * Returns unrounded RGB floats in 0..255 as [height, width, 3]. Gray input is copied
 * to all three channels and alpha is ignored. An unchanged size returns the pixels
 * exactly.
 */
export function resizeBilinear(pixels: PixelData, width: number, height: number): Float32Array {
  validatePixelData(pixels);
  validateOutputSize(width, height, 'resizeBilinear');
  const output = new Float32Array(width * height * 3);
  new BilinearResizer().resizeRegionInto(pixels, 0, 0, pixels.width, pixels.height, width, height, output);
  return output;
}
