/**
 * Shared pieces of the thread tests: bit-for-bit comparison of outputs, graph
 * descriptions for createModel, and seeded inputs and images.
 */
import { assert } from 'vitest';
import { seededRandom } from '../../src/graph/configs.js';
import type { PixelData } from '../../src/image/types.js';

/**
 * Describes the first element where actual differs from expected in its bits
 * or is NaN in either, or returns null when the two are bit-identical. +0 and
 * -0 count as different, and NaN never matches, not even NaN.
 */
export function bitDifference(actual: Float32Array, expected: Float32Array): string | null {
  if (actual.length !== expected.length) return `length ${actual.length}, expected ${expected.length}`;
  const actualBits = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const expectedBits = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < actual.length; i++) {
    if (Number.isNaN(actual[i]) || Number.isNaN(expected[i])) {
      return `element ${i} is ${actual[i]}, expected ${expected[i]} (NaN never matches; in a prefilled output it means never written)`;
    }
    if (actualBits[i] !== expectedBits[i]) {
      return (
        `element ${i} is ${actual[i]} (0x${actualBits[i].toString(16)}), expected ${expected[i]} ` +
        `(0x${expectedBits[i].toString(16)})`
      );
    }
  }
  return null;
}

/** Fails with context and the first difference unless actual and expected are bit-identical. */
export function expectSameBits(actual: Float32Array, expected: Float32Array, context: string): void {
  const difference = bitDifference(actual, expected);
  if (difference !== null) assert.fail(`${context}: ${difference}`);
}

export { describeGraph, waveInput } from '../support/graphs.js';

/** Returns a decoded image { data, width, height, channels } of seeded waves in 0-255. */
export function waveImage(width: number, height: number, channels: 3 | 4, seed: number): PixelData {
  const random = seededRandom(seed);
  const waves = [0, 1, 2].map(() => ({ fy: random() * 0.3, fx: random() * 0.3, phase: random() * 6 }));
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < channels; c++) {
        const value = c < 3 ? 127.5 + 120 * Math.sin(waves[c].fy * y + waves[c].fx * x + waves[c].phase) + 8 * (random() - 0.5) : 255;
        data[(y * width + x) * channels + c] = Math.max(0, Math.min(255, Math.round(value)));
      }
    }
  }
  return { data, width, height, channels };
}
