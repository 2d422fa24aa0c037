import type { BatchNorm } from './spec.js';

/** Per-output-channel scale and bias that replace a BatchNorm after a linear layer. */
export interface FoldedBatchNorm {
  scale: Float32Array;
  bias: Float32Array;
}

/**
 * Folds BatchNorm into the preceding layer:
 * bn(y) = gamma * (y - mean) / sqrt(variance + eps) + beta = scale * y + (beta - scale * mean),
 * and with y = x*w + b the folded bias is scale * (b - mean) + beta. Computed in f64.
 */
export function foldBatchNorm(bn: BatchNorm, bias: Float32Array | null, layer: string): FoldedBatchNorm {
  const channels = bn.gamma.length;
  for (const [name, values] of [['beta', bn.beta], ['moving_mean', bn.mean], ['moving_variance', bn.variance]] as const) {
    if (values.length !== channels) {
      throw new Error(
        `Invalid BatchNorm in ${layer}: ${name} has ${values.length} values but gamma has ${channels}. ` +
          'Check that the weights belong to this model.',
      );
    }
  }
  if (bias && bias.length !== channels) {
    throw new Error(`Invalid BatchNorm in ${layer}: the layer bias has ${bias.length} values but BatchNorm has ${channels}.`);
  }
  const scale = new Float32Array(channels);
  const folded = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    const variance = bn.variance[c] + bn.epsilon;
    if (!(variance > 0)) {
      throw new Error(
        `Invalid BatchNorm in ${layer}: variance + epsilon must be positive, but channel ${c} has ${variance}.`,
      );
    }
    const s = bn.gamma[c] / Math.sqrt(variance);
    scale[c] = s;
    folded[c] = s * ((bias ? bias[c] : 0) - bn.mean[c]) + bn.beta[c];
  }
  return { scale, bias: folded };
}

/**
 * Multiplies each output channel of a weight tensor whose last axis is the
 * output channel ([..., outChannels]) by scale, returning a new array.
 */
export function scaleOutputChannels(weight: Float32Array, scale: Float32Array): Float32Array {
  const channels = scale.length;
  if (weight.length % channels !== 0) {
    throw new Error(`Weight of ${weight.length} values does not divide into ${channels} output channels.`);
  }
  const out = new Float32Array(weight.length);
  for (let i = 0; i < weight.length; i++) out[i] = weight[i] * scale[i % channels];
  return out;
}
