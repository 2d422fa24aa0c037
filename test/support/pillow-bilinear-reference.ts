/**
 * A slow model of Pillow's 8-bit BILINEAR resize: float weights rounded to 22-bit
 * fixed point, a horizontal pass rounded to uint8, then a vertical pass. It reproduces
 * the fixture reference bytes exactly, so tests use it to show that the library's
 * float resize differs from Pillow's only through these two roundings.
 */
import type { PixelData } from '../../src/image/index.js';

const PRECISION_BITS = 32 - 8 - 2;

interface FixedPointTaps {
  first: number[];
  weights: number[][];
}

function fixedPointTaps(inputLength: number, outputLength: number): FixedPointTaps {
  const scale = inputLength / outputLength;
  const filterScale = Math.max(scale, 1);
  const support = filterScale;
  const first: number[] = [];
  const weights: number[][] = [];
  for (let i = 0; i < outputLength; i++) {
    const center = (i + 0.5) * scale;
    const start = Math.max(Math.trunc(center - support + 0.5), 0);
    const end = Math.min(Math.trunc(center + support + 0.5), inputLength);
    const floats: number[] = [];
    let total = 0;
    for (let j = start; j < end; j++) {
      const distance = Math.abs((j - center + 0.5) / filterScale);
      const weight = distance < 1 ? 1 - distance : 0;
      floats.push(weight);
      total += weight;
    }
    first.push(start);
    weights.push(floats.map((weight) => Math.trunc(0.5 + (weight / total) * (1 << PRECISION_BITS))));
  }
  return { first, weights };
}

function roundFixedPoint(sum: number): number {
  return Math.min(255, Math.max(0, Math.floor(sum / (1 << PRECISION_BITS))));
}

/** Resizes RGB pixels to width x height the way Pillow does and returns RGB uint8 [height, width, 3]. */
export function resizeLikePillow(pixels: PixelData, width: number, height: number): Uint8Array {
  if (pixels.channels !== 3) throw new Error(`resizeLikePillow: expected 3 channels, but got ${pixels.channels}.`);
  const { data } = pixels;

  let rows: Uint8Array = Uint8Array.from(data);
  let rowWidth = pixels.width;
  if (width !== pixels.width) {
    const taps = fixedPointTaps(pixels.width, width);
    rows = new Uint8Array(pixels.height * width * 3);
    for (let y = 0; y < pixels.height; y++) {
      for (let x = 0; x < width; x++) {
        for (let c = 0; c < 3; c++) {
          let sum = 1 << (PRECISION_BITS - 1);
          taps.weights[x].forEach((weight, k) => {
            sum += weight * data[(y * pixels.width + taps.first[x] + k) * 3 + c];
          });
          rows[(y * width + x) * 3 + c] = roundFixedPoint(sum);
        }
      }
    }
    rowWidth = width;
  }
  if (height === pixels.height) return rows;

  const taps = fixedPointTaps(pixels.height, height);
  const output = new Uint8Array(height * rowWidth * 3);
  for (let y = 0; y < height; y++) {
    for (let i = 0; i < rowWidth * 3; i++) {
      let sum = 1 << (PRECISION_BITS - 1);
      taps.weights[y].forEach((weight, k) => {
        sum += weight * rows[(taps.first[y] + k) * rowWidth * 3 + i];
      });
      output[y * rowWidth * 3 + i] = roundFixedPoint(sum);
    }
  }
  return output;
}
