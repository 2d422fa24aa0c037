// Activations in f64, written from their definitions. Codes follow
// ACTIVATION_CODES in src/graph/spec.ts.
import { ACTIVATION_CODES, type Activation } from '../../src/graph/spec.js';

export const ACTIVATIONS = Object.keys(ACTIVATION_CODES) as Activation[];

function sigmoid(x: number): number {
  // For x = -1e4, exp(1e4) is Infinity in f64 and 1 / Infinity is exactly 0.
  return 1 / (1 + Math.exp(-x));
}

/** Applies an activation to one value in f64. */
export function activate(x: number, activation: Activation): number {
  switch (activation) {
    case 'linear':
      return x;
    case 'relu':
      return Math.max(x, 0);
    case 'relu6':
      return Math.min(Math.max(x, 0), 6);
    case 'swish':
      return x * sigmoid(x);
    case 'sigmoid':
      return sigmoid(x);
    case 'hardswish':
      return (x * Math.min(Math.max(x + 3, 0), 6)) / 6;
  }
}

/**
 * Bound on |activate'(x)| for any x: how much an activation can amplify an
 * error in its input (swish peaks near 1.1, hard-swish at 1.5).
 */
export const ACTIVATION_SLOPE: Readonly<Record<Activation, number>> = {
  linear: 1,
  relu: 1,
  relu6: 1,
  swish: 1.1,
  sigmoid: 0.25,
  hardswish: 1.5,
};
