// Convolutions as plain loops over NHWC tensors, accumulating in f64.
// Each returns the expected values and, per element, the dot-product magnitude
// (sum of |input * weight| plus |bias|) that the 'dot' tolerance scales with.
import type { Activation } from '../../src/graph/spec.js';
import { activate, ACTIVATION_SLOPE } from './activation.js';

export interface ConvGeometry {
  inH: number;
  inW: number;
  outH: number;
  outW: number;
  kernel: number;
  stride: number;
  padTop: number;
  padLeft: number;
}

export interface DotResult {
  values: Float64Array;
  magnitude: Float64Array;
}

/** input [inH, inW, inC] * weight [k, k, inC, outC] + bias -> [outH, outW, outC]. */
export function conv2dReference(
  input: Float32Array, inC: number, weight: Float32Array, bias: Float32Array | null, outC: number,
  geometry: ConvGeometry, activation: Activation,
): DotResult {
  const { inH, inW, outH, outW, kernel, stride, padTop, padLeft } = geometry;
  const values = new Float64Array(outH * outW * outC);
  const magnitude = new Float64Array(values.length);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      for (let co = 0; co < outC; co++) {
        let sum = bias ? bias[co] : 0;
        let size = Math.abs(sum);
        for (let ky = 0; ky < kernel; ky++) {
          const iy = oy * stride - padTop + ky;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kernel; kx++) {
            const ix = ox * stride - padLeft + kx;
            if (ix < 0 || ix >= inW) continue;
            for (let ci = 0; ci < inC; ci++) {
              const product = input[(iy * inW + ix) * inC + ci] * weight[((ky * kernel + kx) * inC + ci) * outC + co];
              sum += product;
              size += Math.abs(product);
            }
          }
        }
        const index = (oy * outW + ox) * outC + co;
        values[index] = activate(sum, activation);
        magnitude[index] = size * ACTIVATION_SLOPE[activation];
      }
    }
  }
  return { values, magnitude };
}

/** input [inH, inW, C] * weight [k, k, C] + bias -> [outH, outW, C], before any activation when activation is 'linear'. */
export function dwconvReference(
  input: Float32Array, channels: number, weight: Float32Array, bias: Float32Array | null,
  geometry: ConvGeometry, activation: Activation,
): DotResult {
  const { inH, inW, outH, outW, kernel, stride, padTop, padLeft } = geometry;
  const values = new Float64Array(outH * outW * channels);
  const magnitude = new Float64Array(values.length);
  for (let oy = 0; oy < outH; oy++) {
    for (let ox = 0; ox < outW; ox++) {
      for (let c = 0; c < channels; c++) {
        let sum = bias ? bias[c] : 0;
        let size = Math.abs(sum);
        for (let ky = 0; ky < kernel; ky++) {
          const iy = oy * stride - padTop + ky;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kernel; kx++) {
            const ix = ox * stride - padLeft + kx;
            if (ix < 0 || ix >= inW) continue;
            const product = input[(iy * inW + ix) * channels + c] * weight[(ky * kernel + kx) * channels + c];
            sum += product;
            size += Math.abs(product);
          }
        }
        const index = (oy * outW + ox) * channels + c;
        values[index] = activate(sum, activation);
        magnitude[index] = size * ACTIVATION_SLOPE[activation];
      }
    }
  }
  return { values, magnitude };
}
