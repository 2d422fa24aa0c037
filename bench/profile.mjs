// Prints where the time of one EfficientNet-B0 run goes, per kernel, on the
// SIMD build: `npm run bench -- --profile`. Needs dist/ (npm run build).
import path from 'node:path';
import { root } from './models.mjs';

export async function printProfile() {
  const { efficientNetArchitecture, randomGraph } = await import(path.join(root, 'dist', 'index.js'));
  const { GraphExecutor } = await import(path.join(root, 'dist', 'graph', 'executor.js'));
  const { KernelInstance } = await import(path.join(root, 'dist', 'wasm', 'instantiate.js'));
  const graph = randomGraph(efficientNetArchitecture('b0'), 1);
  const executor = new GraphExecutor(await KernelInstance.create('simd'), graph, { quantizationGrid: false });
  const input = new Float32Array(224 * 224 * 3).map((_, i) => Math.sin(i * 0.001));
  for (let i = 0; i < 5; i++) executor.run(input, 224, 224);
  const rows = executor.profile(input, 224, 224);
  const total = rows.reduce((sum, row) => sum + row.ms, 0);
  console.log(`\nEfficientNet-B0 (simd), one profiled run: ${total.toFixed(1)} ms in kernels`);
  for (const row of rows) {
    console.log(`  ${row.kernel.padEnd(22)} ${row.ms.toFixed(2).padStart(8)} ms  ${((100 * row.ms) / total).toFixed(1).padStart(5)} %  ${row.calls} calls`);
  }
}
