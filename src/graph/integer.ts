import type { Activation, ConvLayer, DepthwiseLayer, Graph, PointwiseLayer, QuantGrid } from './spec.js';

/**
 * A layer of an integer-quantized model, lowered so that f32 arithmetic
 * reproduces the integer pipeline. Activations hold q - zeroPoint and weights
 * hold their integer values, so the accumulator is exact while its partial sums
 * stay below 2^24. Requantization then multiplies by inputScale * weightScale /
 * outputScale, rounds and clamps, as an fp32-requantizing runtime does.
 */
export interface IntegerLayer {
  /** Integer weights (q - zeroPoint), same layout as the layer's weight. */
  weight: Float32Array;
  /** Bias in accumulator units (inputScale * weightScale). */
  bias: Float32Array;
  /** Requantization multipliers, one per output channel. */
  multipliers: Float32Array;
  /** Zero-point-relative bounds of the output, the fused activation included. */
  low: number;
  high: number;
}

type WeightedLayer = ConvLayer | DepthwiseLayer | PointwiseLayer;

/** Largest distance from an integer that a dequantized weight divided by its scale may show. */
const INTEGER_SLACK = 1e-3;

/**
 * Returns the zero-point-relative output bounds of a grid with a fused
 * activation, as TFLite derives them, or null for an activation that integer
 * models do not fuse.
 */
export function activationBounds(grid: QuantGrid, activation: Activation): { low: number; high: number } | null {
  let low = grid.qmin - grid.zeroPoint;
  let high = grid.qmax - grid.zeroPoint;
  switch (activation) {
    case 'linear':
      break;
    case 'relu':
      low = Math.max(low, 0);
      break;
    case 'relu6':
      low = Math.max(low, 0);
      high = Math.min(high, Math.round(6 / grid.scale));
      break;
    default:
      return null;
  }
  return { low, high };
}

/**
 * Lowers one layer given the grid of its input, or returns null when the layer
 * is not integer-quantized (no weight scales, BatchNorm, weights off their grid,
 * or an activation other than linear, ReLU or ReLU6).
 */
export function lowerLayer(layer: WeightedLayer, outChannels: number, inputGrid: QuantGrid | undefined): IntegerLayer | null {
  const outputGrid = layer.outputGrid;
  const scales = layer.weightScales;
  if (!inputGrid || !outputGrid || !scales || layer.batchNorm) return null;
  if (scales.length !== 1 && scales.length !== outChannels) return null;
  const bounds = activationBounds(outputGrid, layer.activation);
  if (!bounds) return null;

  const scaleOf = (channel: number) => scales[scales.length === 1 ? 0 : channel];
  const channelScales = Float64Array.from({ length: outChannels }, (_, c) => scaleOf(c));
  const source = layer.weight;
  const weight = new Float32Array(source.length);
  // The output channel is the last axis of every weight layout, so it cycles fastest.
  for (let i = 0, c = 0; i < source.length; i++) {
    const value = source[i] / channelScales[c];
    const rounded = Math.round(value);
    if (!(Math.abs(value - rounded) <= INTEGER_SLACK)) return null;
    weight[i] = rounded;
    if (++c === outChannels) c = 0;
  }
  const bias = new Float32Array(outChannels);
  const multipliers = new Float32Array(outChannels);
  for (let c = 0; c < outChannels; c++) {
    const accumulatorScale = Math.fround(inputGrid.scale * scaleOf(c));
    if (layer.bias) {
      // TFLite stores biases as int32 at the accumulator scale; recover that integer.
      const value = layer.bias[c] / accumulatorScale;
      const rounded = Math.round(value);
      bias[c] = Math.abs(value - rounded) <= INTEGER_SLACK * Math.max(1, Math.abs(rounded)) ? rounded : value;
    }
    multipliers[c] = Math.fround(accumulatorScale / outputGrid.scale);
  }
  return { weight, bias, multipliers, ...bounds };
}

/** The lowered form of every weighted layer of a graph, keyed by the layer. */
export type LoweredGraph = Map<WeightedLayer, IntegerLayer>;

/**
 * Lowers every weighted layer of the graph, or returns null unless the whole
 * graph can run as an integer pipeline. That needs a grid on every tensor, every
 * weighted layer lowered, and no squeeze-excite (integer models in the
 * supported formats have none).
 */
export function lowerGraph(graph: Graph): LoweredGraph | null {
  let grid = graph.inputGrid;
  if (!grid) return null;
  const lowered: LoweredGraph = new Map();
  const lower = (layer: WeightedLayer, outChannels: number) => {
    const result = lowerLayer(layer, outChannels, grid);
    grid = layer.outputGrid;
    if (result) lowered.set(layer, result);
    return result !== null;
  };
  if (!lower(graph.stem, graph.stem.outChannels)) return null;
  for (const block of graph.blocks) {
    const blockGrid = grid;
    if (block.se) return null;
    if (block.expand && !lower(block.expand, block.expand.outChannels)) return null;
    if (!lower(block.depthwise, block.depthwise.channels * (block.depthwise.depthMultiplier ?? 1))) return null;
    if (!lower(block.project, block.project.outChannels)) return null;
    if (block.residual) {
      if (!block.residualGrid || !blockGrid) return null;
      grid = block.residualGrid;
    }
  }
  if (graph.head && !lower(graph.head, graph.head.outChannels)) return null;
  if ((graph.hidden ?? []).length > 0) return null;
  if (graph.pool) {
    if (graph.pool.type !== 'avg' || !graph.pool.outputGrid) return null;
    grid = graph.pool.outputGrid;
  }
  if (graph.classifier && !lower(graph.classifier, graph.classifier.outChannels)) return null;
  return lowered;
}

/** Returns true when the whole graph can run as an integer pipeline (see lowerGraph). */
export function supportsIntegerPipeline(graph: Graph): boolean {
  return lowerGraph(graph) !== null;
}
