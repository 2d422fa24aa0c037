/**
 * Graph descriptions and image-like inputs that the executor, parity and
 * thread tests share.
 */
import { seededRandom } from '../../src/graph/configs.js';
import type { Graph, ModelDescription } from '../../src/graph/spec.js';

/** Wraps a graph as the description createModel takes, with inputs already normalized. */
export function describeGraph(graph: Graph, name = 'test graph'): ModelDescription {
  return {
    name,
    format: 'builtin',
    graph,
    labels: null,
    normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
    quantized: false,
  };
}

/**
 * Returns an image-like normalized input [height, width, 3]: per-channel waves
 * of seeded frequency and phase plus a little noise, so two seeds give
 * different pooled features and different outputs.
 */
export function waveInput(height: number, width: number, seed: number): Float32Array {
  const random = seededRandom(seed);
  const waves = [0, 1, 2].map(() => ({ fy: random() * 0.5, fx: random() * 0.5, phase: random() * 6, offset: random() - 0.5 }));
  const input = new Float32Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const wave = waves[c];
        input[(y * width + x) * 3 + c] = wave.offset + Math.sin(wave.fy * y + wave.fx * x + wave.phase) + 0.2 * (random() - 0.5);
      }
    }
  }
  return input;
}
