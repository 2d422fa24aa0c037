// Measures where the time of an EfficientNet-B0 run goes, per kernel, on the
// SIMD build: `npm run bench -- --profile` prints it and adds it to
// BENCHMARKS.md. Needs dist/ (npm run build).
import path from 'node:path';
import { root } from './models.mjs';

/** Profiled runs whose per-kernel median is reported. */
const PROFILE_RUNS = 15;

/**
 * Profiles EfficientNet-B0 on the SIMD build: per kernel, the median time of
 * PROFILE_RUNS profiled runs, its calls and its GFLOP/s.
 */
export async function measureProfile() {
  const { efficientNetArchitecture, randomGraph } = await import(path.join(root, 'dist', 'index.js'));
  const { GraphExecutor } = await import(path.join(root, 'dist', 'graph', 'executor.js'));
  const { KernelInstance } = await import(path.join(root, 'dist', 'wasm', 'instantiate.js'));
  const graph = randomGraph(efficientNetArchitecture('b0'), 1);
  const executor = new GraphExecutor(await KernelInstance.create('simd'), graph, { quantizationGrid: false });
  const input = new Float32Array(224 * 224 * 3).map((_, i) => Math.sin(i * 0.001));
  for (let i = 0; i < 10; i++) executor.run(input, 224, 224);
  const samples = new Map();
  for (let run = 0; run < PROFILE_RUNS; run++) {
    for (const row of executor.profile(input, 224, 224)) {
      const entry = samples.get(row.kernel) ?? { ms: [], calls: row.calls, flops: row.flops };
      entry.ms.push(row.ms);
      samples.set(row.kernel, entry);
    }
  }
  const rows = [...samples.entries()].map(([kernel, entry]) => {
    const sorted = [...entry.ms].sort((a, b) => a - b);
    const ms = sorted[Math.floor(sorted.length / 2)];
    return { kernel, ms, calls: entry.calls, gflops: entry.flops > 0 ? entry.flops / ms / 1e6 : null };
  });
  rows.sort((a, b) => b.ms - a.ms);
  const flops = [...samples.values()].reduce((sum, entry) => sum + entry.flops, 0);
  const { measurePeakGflops } = await import('./peak.mjs');
  const peakGflops = await measurePeakGflops();
  return { runs: PROFILE_RUNS, total: rows.reduce((sum, row) => sum + row.ms, 0), rows, flops, peakGflops };
}

/** Prints a profile from measureProfile. */
export function printProfile(profile) {
  console.log(`\nEfficientNet-B0 (simd), median of ${profile.runs} profiled runs: ${profile.total.toFixed(1)} ms in kernels`);
  console.log(`  measured multiply-add ceiling (bench/peak.mjs): ${profile.peakGflops.toFixed(1)} GFLOP/s`);
  for (const row of profile.rows) {
    const rate = row.gflops === null ? '' : `  ${row.gflops.toFixed(1)} GFLOP/s (${((100 * row.gflops) / profile.peakGflops).toFixed(0)} % of the ceiling)`;
    console.log(`  ${row.kernel.padEnd(22)} ${row.ms.toFixed(2).padStart(8)} ms  ${((100 * row.ms) / profile.total).toFixed(1).padStart(5)} %  ${row.calls} calls${rate}`);
  }
}
