// Element-wise ops, pooling and softmax in f64.

/** Rounds half away from zero: 2.5 -> 3, -2.5 -> -3. */
export function roundHalfAwayFromZero(x: number): number {
  return Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
}

/**
 * The grid value of x: q = clamp(round(x / scale) + zeroPoint, qmin, qmax),
 * returned as (q - zeroPoint) * scale. The quotient is rounded to f32 first,
 * as the kernel's f32 division does, so ties are decided on the same number.
 */
export function quantizeGridReference(x: number, scale: number, zeroPoint: number, qmin: number, qmax: number): number {
  const quotient = Math.fround(x / scale);
  const q = Math.min(Math.max(roundHalfAwayFromZero(quotient) + zeroPoint, qmin), qmax);
  return (q - zeroPoint) * scale;
}

/** exp(x - max) / sum over all values. */
export function softmaxReference(logits: ArrayLike<number>): Float64Array {
  let largest = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) largest = Math.max(largest, logits[i]);
  const result = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    result[i] = Math.exp(logits[i] - largest);
    sum += result[i];
  }
  for (let i = 0; i < result.length; i++) result[i] /= sum;
  return result;
}

/** Mean over pixels of a [pixels, channels] map, and the mean |x| per channel. */
export function globalAvgPoolReference(input: Float32Array, pixels: number, channels: number): { values: Float64Array; meanAbs: Float64Array } {
  const values = new Float64Array(channels);
  const meanAbs = new Float64Array(channels);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < channels; c++) {
      values[c] += input[p * channels + c];
      meanAbs[c] += Math.abs(input[p * channels + c]);
    }
  }
  for (let c = 0; c < channels; c++) {
    values[c] /= pixels;
    meanAbs[c] /= pixels;
  }
  return { values, meanAbs };
}

/** Max over pixels of a [pixels, channels] map. */
export function globalMaxPoolReference(input: Float32Array, pixels: number, channels: number): Float64Array {
  const values = new Float64Array(channels).fill(Number.NEGATIVE_INFINITY);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < channels; c++) values[c] = Math.max(values[c], input[p * channels + c]);
  }
  return values;
}
