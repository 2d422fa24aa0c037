// Matrix product for 1x1 convolutions, as plain loops accumulating in f64.
import type { Activation } from '../../src/graph/spec.js';
import { activate, ACTIVATION_SLOPE } from './activation.js';
import type { DotResult } from './conv.js';

/**
 * act((a[M, K] * inputScale[K]) x b[K, N] + bias[N]) + residual[M, N], with b
 * row-major and not packed. magnitude is the sum of |a * s * b| plus |bias|,
 * scaled by the activation's slope, plus |residual|.
 */
export function gemmReference(
  a: Float32Array, m: number, k: number, b: Float32Array, n: number,
  bias: Float32Array | null, activation: Activation,
  residual: Float32Array | null, inputScale: Float32Array | null,
): DotResult {
  const values = new Float64Array(m * n);
  const magnitude = new Float64Array(m * n);
  const sums = new Float64Array(n);
  const sizes = new Float64Array(n);
  for (let row = 0; row < m; row++) {
    for (let col = 0; col < n; col++) {
      sums[col] = bias ? bias[col] : 0;
      sizes[col] = Math.abs(sums[col]);
    }
    for (let i = 0; i < k; i++) {
      const x = a[row * k + i] * (inputScale ? inputScale[i] : 1);
      for (let col = 0; col < n; col++) {
        const product = x * b[i * n + col];
        sums[col] += product;
        sizes[col] += Math.abs(product);
      }
    }
    for (let col = 0; col < n; col++) {
      const index = row * n + col;
      const extra = residual ? residual[index] : 0;
      values[index] = activate(sums[col], activation) + extra;
      magnitude[index] = sizes[col] * ACTIVATION_SLOPE[activation] + Math.abs(extra);
    }
  }
  return { values, magnitude };
}
