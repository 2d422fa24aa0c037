/**
 * Error limits per op, in one table. Expected values come from the f64
 * references in test/reference/.
 *
 * - 'dot' (conv, depthwise conv, GEMM): |actual - expected| <= abs + rel * magnitude
 *   + outputUlps * ulp(expected). magnitude is the sum of |a * b| over the products
 *   plus |bias|, times the activation's largest slope, plus |residual|. An f32 sum
 *   of n terms is off by about sqrt(n) * 2^-24 * magnitude in practice (n * 2^-24 at
 *   worst). The sweeps stay below 0.4e-6 * magnitude up to K = 1280, so rel = 2e-6
 *   leaves margin, while one dropped or doubled product (about magnitude / K, so
 *   8e-4 at K = 1280) still fails. outputUlps covers the fused activation.
 * - 'ulp' (activations, softmax): |actual - expected| <= ulps * ulp(expected), or
 *   <= absFloor. Sigmoid flushes results below 2^-126 to zero, so its floor is
 *   2^-126. Swish multiplies that flushed error by |x| <= 87.4, so its floor is
 *   2^-119. Softmax rounds subnormal probabilities with fewer bits, so its floor
 *   is 2^-126 too. A dense scan of [-110, 110] measured at most 3.4 ULP for
 *   sigmoid, 4.3 for swish and 1.3 for hard-swish.
 * - 'exact': bit-identical to the expected value rounded to f32, because the
 *   kernel does one correctly rounded f32 operation per element, or none.
 *   +0 and -0 count as equal.
 * - 'mean' (average pool): |actual - expected| <= ulps * ulp(expected) + rel * mean|x|.
 */
export type Tolerance =
  | { kind: 'dot'; abs: number; rel: number; outputUlps: number }
  | { kind: 'ulp'; ulps: number; absFloor: number }
  | { kind: 'exact' }
  | { kind: 'mean'; ulps: number; rel: number };

const SMALLEST_NORMAL = 2 ** -126;

export const TOLERANCES = {
  conv2d: { kind: 'dot', abs: 1e-6, rel: 2e-6, outputUlps: 8 },
  dwconv2d: { kind: 'dot', abs: 1e-6, rel: 2e-6, outputUlps: 8 },
  gemm: { kind: 'dot', abs: 1e-6, rel: 2e-6, outputUlps: 8 },
  linear: { kind: 'exact' },
  relu: { kind: 'exact' },
  relu6: { kind: 'exact' },
  sigmoid: { kind: 'ulp', ulps: 4, absFloor: SMALLEST_NORMAL },
  swish: { kind: 'ulp', ulps: 5, absFloor: 2 ** -119 },
  hardswish: { kind: 'ulp', ulps: 3, absFloor: 0 },
  softmax: { kind: 'ulp', ulps: 2, absFloor: SMALLEST_NORMAL },
  quantizeGrid: { kind: 'exact' },
  add: { kind: 'exact' },
  scaleChannels: { kind: 'exact' },
  globalAvgPool: { kind: 'mean', ulps: 2, rel: 1e-6 },
  globalMaxPool: { kind: 'exact' },
} as const satisfies Record<string, Tolerance>;

/** Returns the distance between adjacent f32 values at |value|, which is 2^-149 at zero and for subnormals. */
export function ulpOf(value: number): number {
  const magnitude = Math.abs(Math.fround(value));
  if (magnitude < SMALLEST_NORMAL) return 2 ** -149;
  if (!Number.isFinite(magnitude)) return Number.POSITIVE_INFINITY;
  const exponent = Math.floor(Math.log2(magnitude));
  // Math.log2 can be one off near powers of two, so check the exponent against the actual bounds.
  const corrected = 2 ** exponent > magnitude ? exponent - 1 : 2 ** (exponent + 1) <= magnitude ? exponent + 1 : exponent;
  return 2 ** (corrected - 23);
}
