// A plain-loop forward pass of a Graph in f64, with BatchNorm applied unfolded,
// written independently of the kernels and the executor so it can check both.
import { resolveAxis } from '../../src/graph/padding.js';
import type { Activation, BatchNorm, Graph, PointwiseLayer, QuantGrid } from '../../src/graph/spec.js';

export interface ReferenceOptions {
  quantizationGrid: boolean;
  outputGrid?: QuantGrid;
}

interface Tensor {
  data: Float64Array;
  height: number;
  width: number;
  channels: number;
}

function activate(x: number, activation: Activation): number {
  switch (activation) {
    case 'linear': return x;
    case 'relu': return Math.max(0, x);
    case 'relu6': return Math.min(6, Math.max(0, x));
    case 'swish': return x / (1 + Math.exp(-x));
    case 'sigmoid': return 1 / (1 + Math.exp(-x));
    case 'hardswish': return (x * Math.min(6, Math.max(0, x + 3))) / 6;
  }
}

function roundHalfAway(x: number): number {
  return Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
}

function applyGrid(data: Float64Array, grid: QuantGrid | undefined, enabled: boolean): void {
  if (!grid || !enabled) return;
  for (let i = 0; i < data.length; i++) {
    const q = Math.min(grid.qmax, Math.max(grid.qmin, roundHalfAway(data[i] / grid.scale) + grid.zeroPoint));
    data[i] = (q - grid.zeroPoint) * grid.scale;
  }
}

function batchNorm(value: number, bn: BatchNorm | undefined, channel: number): number {
  if (!bn) return value;
  return ((value - bn.mean[channel]) / Math.sqrt(bn.variance[channel] + bn.epsilon)) * bn.gamma[channel] + bn.beta[channel];
}

function conv(
  input: Tensor, weight: Float32Array, bias: Float32Array | null, bn: BatchNorm | undefined,
  kernel: number, stride: number, padding: Parameters<typeof resolveAxis>[3], outChannels: number,
  depthwise: boolean, activation: Activation,
): Tensor {
  const rows = resolveAxis(input.height, kernel, stride, padding, 'height');
  const cols = resolveAxis(input.width, kernel, stride, padding, 'width');
  const out = new Float64Array(rows.outSize * cols.outSize * outChannels);
  for (let oy = 0; oy < rows.outSize; oy++) {
    for (let ox = 0; ox < cols.outSize; ox++) {
      for (let oc = 0; oc < outChannels; oc++) {
        let sum = bias ? bias[oc] : 0;
        for (let ky = 0; ky < kernel; ky++) {
          const iy = oy * stride + ky - rows.padBefore;
          if (iy < 0 || iy >= input.height) continue;
          for (let kx = 0; kx < kernel; kx++) {
            const ix = ox * stride + kx - cols.padBefore;
            if (ix < 0 || ix >= input.width) continue;
            const pixel = (iy * input.width + ix) * input.channels;
            if (depthwise) {
              sum += input.data[pixel + oc] * weight[(ky * kernel + kx) * outChannels + oc];
            } else {
              for (let ic = 0; ic < input.channels; ic++) {
                sum += input.data[pixel + ic] * weight[((ky * kernel + kx) * input.channels + ic) * outChannels + oc];
              }
            }
          }
        }
        out[(oy * cols.outSize + ox) * outChannels + oc] = activate(batchNorm(sum, bn, oc), activation);
      }
    }
  }
  return { data: out, height: rows.outSize, width: cols.outSize, channels: outChannels };
}

function pointwise(input: Tensor, layer: PointwiseLayer, scale?: Float64Array): Tensor {
  const pixels = input.height * input.width;
  const out = new Float64Array(pixels * layer.outChannels);
  for (let p = 0; p < pixels; p++) {
    for (let oc = 0; oc < layer.outChannels; oc++) {
      let sum = layer.bias ? layer.bias[oc] : 0;
      for (let ic = 0; ic < layer.inChannels; ic++) {
        const x = input.data[p * layer.inChannels + ic] * (scale ? scale[ic] : 1);
        sum += x * layer.weight[ic * layer.outChannels + oc];
      }
      out[p * layer.outChannels + oc] = activate(batchNorm(sum, layer.batchNorm, oc), layer.activation);
    }
  }
  const result = { data: out, height: input.height, width: input.width, channels: layer.outChannels };
  return result;
}

/** Input channel c becomes channels c*m .. c*m + m - 1, as a depth multiplier of m reads them. */
function repeatChannels(input: Tensor, multiplier: number): Tensor {
  const pixels = input.height * input.width;
  const out = new Float64Array(pixels * input.channels * multiplier);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < input.channels; c++) {
      for (let r = 0; r < multiplier; r++) out[(p * input.channels + c) * multiplier + r] = input.data[p * input.channels + c];
    }
  }
  return { data: out, height: input.height, width: input.width, channels: input.channels * multiplier };
}

function globalPool(input: Tensor, type: 'avg' | 'max'): Tensor {
  const pixels = input.height * input.width;
  const out = new Float64Array(input.channels).fill(type === 'max' ? -Infinity : 0);
  for (let p = 0; p < pixels; p++) {
    for (let c = 0; c < input.channels; c++) {
      const v = input.data[p * input.channels + c];
      out[c] = type === 'max' ? Math.max(out[c], v) : out[c] + v;
    }
  }
  if (type === 'avg') for (let c = 0; c < input.channels; c++) out[c] /= pixels;
  return { data: out, height: 1, width: 1, channels: input.channels };
}

/** Runs the graph on one NHWC input and returns the output as f64. */
export function referenceForward(graph: Graph, input: Float32Array, height: number, width: number, options: ReferenceOptions): Float64Array {
  const grids = options.quantizationGrid;
  let x: Tensor = { data: Float64Array.from(input), height, width, channels: graph.inputChannels };
  applyGrid(x.data, graph.inputGrid, grids);
  const stem = graph.stem;
  x = conv(x, stem.weight, stem.bias, stem.batchNorm, stem.kernel, stem.stride, stem.padding, stem.outChannels, false, stem.activation);
  applyGrid(x.data, stem.outputGrid, grids);
  for (const block of graph.blocks) {
    const blockInput = x;
    let y = x;
    if (block.expand) {
      y = pointwise(y, block.expand);
      applyGrid(y.data, block.expand.outputGrid, grids);
    }
    const dw = block.depthwise;
    const multiplier = dw.depthMultiplier ?? 1;
    if (multiplier > 1) y = repeatChannels(y, multiplier);
    y = conv(y, dw.weight, dw.bias, dw.batchNorm, dw.kernel, dw.stride, dw.padding, dw.channels * multiplier, true, dw.activation);
    applyGrid(y.data, dw.outputGrid, grids);
    let gate: Float64Array | undefined;
    if (block.se) {
      let s = globalPool(y, 'avg');
      s = pointwise(s, block.se.reduce);
      applyGrid(s.data, block.se.reduce.outputGrid, grids);
      s = pointwise(s, block.se.expand);
      applyGrid(s.data, block.se.expand.outputGrid, grids);
      gate = s.data;
    }
    y = pointwise(y, block.project, gate);
    applyGrid(y.data, block.project.outputGrid, grids);
    if (block.residual) {
      for (let i = 0; i < y.data.length; i++) y.data[i] += blockInput.data[i];
      applyGrid(y.data, block.residualGrid, grids);
    }
    x = y;
  }
  if (graph.head) {
    x = pointwise(x, graph.head);
    applyGrid(x.data, graph.head.outputGrid, grids);
  }
  if (graph.pool) {
    x = globalPool(x, graph.pool.type);
    applyGrid(x.data, graph.pool.outputGrid, grids);
  }
  for (const layer of graph.hidden ?? []) {
    x = pointwise(x, layer);
    applyGrid(x.data, layer.outputGrid, grids);
  }
  if (graph.classifier) {
    x = pointwise(x, graph.classifier);
    applyGrid(x.data, graph.classifier.logitsGrid, grids);
    if (graph.classifier.output === 'softmax') {
      const max = Math.max(...x.data);
      let sum = 0;
      for (let i = 0; i < x.data.length; i++) sum += x.data[i] = Math.exp(x.data[i] - max);
      for (let i = 0; i < x.data.length; i++) x.data[i] /= sum;
      applyGrid(x.data, options.outputGrid, grids);
    }
  }
  return x.data;
}
