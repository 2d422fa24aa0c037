/**
 * 8-bit bilinear resizing with the same fixed-point arithmetic as Pillow's
 * `Image.resize(size, Image.BILINEAR)` on RGB images, so uint8 model inputs
 * match Python pipelines that prepare images with Pillow byte for byte.
 *
 * The filter weights are those of the float resizer (a triangle whose radius
 * widens with the shrink factor, renormalized at the edges), converted to
 * 22-bit fixed point. The horizontal pass is rounded to uint8 before the
 * vertical pass, as Pillow does.
 */
import type { PixelData } from './types.js';

const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);

/** Fixed-point taps of one axis: output i reads `count[i]` inputs from `start[i]`. */
interface FixedTaps {
  inputLength: number;
  regionStart: number;
  regionLength: number;
  outputLength: number;
  maxTaps: number;
  start: Int32Array;
  count: Int32Array;
  weights: Int32Array;
}

/**
 * Computes the taps that resample [regionStart, regionStart + regionLength) of an
 * axis of inputLength pixels to outputLength samples. As in Pillow, taps may read
 * pixels outside the region but never outside the image.
 */
function fixedTaps(inputLength: number, regionStart: number, regionLength: number, outputLength: number): FixedTaps {
  const scale = regionLength / outputLength;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const inverseScale = 1 / filterScale;
  const maxTaps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outputLength);
  const count = new Int32Array(outputLength);
  const weights = new Int32Array(outputLength * maxTaps);
  const floats = new Float64Array(maxTaps);

  for (let i = 0; i < outputLength; i++) {
    const center = regionStart + (i + 0.5) * scale;
    const first = Math.max(Math.trunc(center - support + 0.5), 0);
    const end = Math.min(Math.trunc(center + support + 0.5), inputLength);
    let total = 0;
    for (let j = first; j < end; j++) {
      const distance = Math.abs((j - center + 0.5) * inverseScale);
      const weight = distance < 1 ? 1 - distance : 0;
      floats[j - first] = weight;
      total += weight;
    }
    for (let k = 0; k < end - first; k++) {
      const normalized = total !== 0 ? floats[k] / total : floats[k];
      weights[i * maxTaps + k] = Math.trunc(0.5 + normalized * (1 << PRECISION_BITS));
    }
    start[i] = first;
    count[i] = end - first;
  }
  return { inputLength, regionStart, regionLength, outputLength, maxTaps, start, count, weights };
}

function clip8(sum: number): number {
  const value = sum >> PRECISION_BITS;
  if (value < 0) return 0;
  if (value > 255) return 255;
  return value;
}

function sameGeometry(taps: FixedTaps | undefined, inputLength: number, regionStart: number, regionLength: number, outputLength: number) {
  return (
    taps !== undefined &&
    taps.inputLength === inputLength &&
    taps.regionStart === regionStart &&
    taps.regionLength === regionLength &&
    taps.outputLength === outputLength
  );
}

/**
 * Reusable state for repeated Pillow-compatible resizes: the taps of the last
 * geometry and the buffer of the horizontal pass, so repeated calls with one
 * geometry allocate nothing.
 */
export class PillowResizer {
  private horizontal: FixedTaps | undefined;
  private vertical: FixedTaps | undefined;
  private rows = new Uint8Array(0);

  /**
   * Resizes the region (x, y, regionWidth, regionHeight) of pixels to
   * outputWidth x outputHeight and writes RGB integers 0..255 (as floats) to
   * output as [outputHeight, outputWidth, 3]. Gray is copied to all three
   * channels and alpha is dropped, as Pillow's convert('RGB') does.
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
    const { data, width, height, channels } = pixels;
    if (!sameGeometry(this.horizontal, width, x, regionWidth, outputWidth)) {
      this.horizontal = fixedTaps(width, x, regionWidth, outputWidth);
    }
    if (!sameGeometry(this.vertical, height, y, regionHeight, outputHeight)) {
      this.vertical = fixedTaps(height, y, regionHeight, outputHeight);
    }
    const horizontal = this.horizontal!;
    const vertical = this.vertical!;

    // Only the input rows that the vertical pass reads go through the horizontal pass.
    const firstRow = vertical.start[0];
    const lastRow = vertical.start[outputHeight - 1] + vertical.count[outputHeight - 1];
    const rowCount = lastRow - firstRow;
    const rowLength = outputWidth * 3;
    if (this.rows.length < rowCount * rowLength) this.rows = new Uint8Array(rowCount * rowLength);
    const rows = this.rows;
    const gray = channels < 3;

    for (let row = 0; row < rowCount; row++) {
      const sourceRow = (firstRow + row) * width;
      for (let column = 0; column < outputWidth; column++) {
        const first = horizontal.start[column];
        const taps = horizontal.count[column];
        const base = column * horizontal.maxTaps;
        let red = HALF;
        let green = HALF;
        let blue = HALF;
        for (let k = 0; k < taps; k++) {
          const weight = horizontal.weights[base + k];
          const pixel = (sourceRow + first + k) * channels;
          red += weight * data[pixel];
          green += weight * data[gray ? pixel : pixel + 1];
          blue += weight * data[gray ? pixel : pixel + 2];
        }
        const target = row * rowLength + column * 3;
        rows[target] = clip8(red);
        rows[target + 1] = clip8(green);
        rows[target + 2] = clip8(blue);
      }
    }

    for (let outputRow = 0; outputRow < outputHeight; outputRow++) {
      const first = vertical.start[outputRow] - firstRow;
      const taps = vertical.count[outputRow];
      const base = outputRow * vertical.maxTaps;
      const target = outputRow * rowLength;
      for (let i = 0; i < rowLength; i++) {
        let sum = HALF;
        for (let k = 0; k < taps; k++) sum += vertical.weights[base + k] * rows[(first + k) * rowLength + i];
        output[target + i] = clip8(sum);
      }
    }
  }
}
