import { describe, expect, test } from 'vitest';
import { activationBounds, lowerLayer, supportsIntegerPipeline } from '../../src/graph/integer.js';
import { efficientNetArchitecture, randomGraph } from '../../src/graph/configs.js';
import type { PointwiseLayer, QuantGrid } from '../../src/graph/spec.js';

const UINT8: QuantGrid = { scale: 6 / 255, zeroPoint: 0, qmin: 0, qmax: 255 };
const INT8: QuantGrid = { scale: 0.05, zeroPoint: -10, qmin: -128, qmax: 127 };

describe('activationBounds', () => {
  test('linear keeps the whole grid', () => {
    expect(activationBounds(INT8, 'linear')).toEqual({ low: -118, high: 137 });
  });

  test('relu starts at the zero point', () => {
    expect(activationBounds(INT8, 'relu')).toEqual({ low: 0, high: 137 });
  });

  test('relu6 stops at six', () => {
    expect(activationBounds(INT8, 'relu6')).toEqual({ low: 0, high: 120 });
    expect(activationBounds(UINT8, 'relu6')).toEqual({ low: 0, high: 255 });
  });

  test('swish has no integer form', () => {
    expect(activationBounds(INT8, 'swish')).toBeNull();
  });
});

describe('lowerLayer', () => {
  const inputGrid: QuantGrid = { scale: 0.02, zeroPoint: 3, qmin: -128, qmax: 127 };
  const scales = Float32Array.of(0.01, 0.002);
  const layer = (): PointwiseLayer => ({
    inChannels: 3,
    outChannels: 2,
    activation: 'relu6',
    // Integers [[5, -7], [127, 0], [-128, 64]] times their channel's scale.
    weight: Float32Array.of(5 * 0.01, -7 * 0.002, 127 * 0.01, 0, -128 * 0.01, 64 * 0.002),
    bias: Float32Array.of(1000 * 0.02 * 0.01, -33 * 0.02 * 0.002),
    outputGrid: INT8,
    weightScales: scales,
  });

  test('recovers integer weights and bias', () => {
    const lowered = lowerLayer(layer(), 2, inputGrid)!;
    expect(Array.from(lowered.weight)).toEqual([5, -7, 127, 0, -128, 64]);
    expect(Array.from(lowered.bias)).toEqual([1000, -33]);
    expect(lowered.multipliers[0]).toBe(Math.fround(Math.fround(0.02 * Math.fround(0.01)) / 0.05));
    expect(lowered.low).toBe(0);
    expect(lowered.high).toBe(120);
  });

  test('one scale serves every channel', () => {
    const perTensor = { ...layer(), weightScales: Float32Array.of(0.01), weight: Float32Array.of(0.05, -0.07, 1.27, 0, -1.28, 0.64) };
    expect(Array.from(lowerLayer(perTensor, 2, inputGrid)!.weight)).toEqual([5, -7, 127, 0, -128, 64]);
  });

  test('off-grid weights are not lowered', () => {
    const off = layer();
    off.weight[0] += 0.004;
    expect(lowerLayer(off, 2, inputGrid)).toBeNull();
  });

  test('missing grids or scales are not lowered', () => {
    expect(lowerLayer({ ...layer(), weightScales: undefined }, 2, inputGrid)).toBeNull();
    expect(lowerLayer({ ...layer(), outputGrid: undefined }, 2, inputGrid)).toBeNull();
    expect(lowerLayer(layer(), 2, undefined)).toBeNull();
    expect(lowerLayer({ ...layer(), activation: 'swish' }, 2, inputGrid)).toBeNull();
    expect(lowerLayer({ ...layer(), weightScales: Float32Array.of(1, 2, 3) }, 2, inputGrid)).toBeNull();
  });
});

describe('supportsIntegerPipeline', () => {
  test('float graph is not integer', () => {
    const graph = randomGraph(efficientNetArchitecture('lite0', { numClasses: 3, scaling: { width: 0.25, depth: 0.34, resolution: 16 } }));
    expect(supportsIntegerPipeline(graph)).toBe(false);
    graph.inputGrid = UINT8;
    expect(supportsIntegerPipeline(graph)).toBe(false);
  });
});
