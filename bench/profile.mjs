// Measures where the time of an EfficientNet-B0 run goes, per kernel, on the
// SIMD build with 1 thread and with MULTI_THREADS threads:
// `npm run bench -- --profile` prints it and adds it to BENCHMARKS.md.
// Needs dist/ (npm run build).
import path from 'node:path';
import { root } from './models.mjs';
import { MULTI_THREADS } from './peers.mjs';

/** Profiled runs whose per-kernel median is reported. */
const PROFILE_RUNS = 15;

/**
 * Profiles EfficientNet-B0 on the SIMD build at a thread count: per kernel,
 * the median time of PROFILE_RUNS profiled runs, its calls and its floating-point
 * operations. A step split between threads counts at its wall time.
 */
async function profileAt(threads, graph, input) {
  const { GraphExecutor } = await import(path.join(root, 'dist', 'graph', 'executor.js'));
  const { KernelInstance } = await import(path.join(root, 'dist', 'wasm', 'instantiate.js'));
  const kernels = await KernelInstance.create('simd', undefined, threads);
  try {
    const executor = new GraphExecutor(kernels, graph, { quantizationGrid: false });
    for (let i = 0; i < 10; i++) executor.run(input, 224, 224);
    const samples = new Map();
    for (let run = 0; run < PROFILE_RUNS; run++) {
      for (const row of executor.profile(input, 224, 224)) {
        const entry = samples.get(row.kernel) ?? { ms: [], calls: row.calls, flops: row.flops };
        entry.ms.push(row.ms);
        samples.set(row.kernel, entry);
      }
    }
    const rows = new Map();
    for (const [kernel, entry] of samples) {
      const sorted = [...entry.ms].sort((a, b) => a - b);
      rows.set(kernel, { ms: sorted[Math.floor(sorted.length / 2)], calls: entry.calls, flops: entry.flops });
    }
    return { threads: kernels.threads, rows };
  } finally {
    kernels.dispose();
  }
}

/**
 * Profiles EfficientNet-B0 on the SIMD build on 1 thread and on MULTI_THREADS
 * threads. Returns one row per kernel, slowest first on 1 thread: its median ms
 * at each thread count, calls and GFLOP/s on 1 thread. A failure of the
 * multithreaded profile is returned as threadedError, with its rows left out.
 */
export async function measureProfile() {
  const { efficientNetArchitecture, randomGraph } = await import(path.join(root, 'dist', 'index.js'));
  const graph = randomGraph(efficientNetArchitecture('b0'), 1);
  const input = new Float32Array(224 * 224 * 3).map((_, i) => Math.sin(i * 0.001));
  const single = await profileAt(1, graph, input);
  let threaded = null;
  let threadedError = null;
  try {
    threaded = await profileAt(MULTI_THREADS, graph, input);
  } catch (error) {
    threadedError = error.message;
  }
  const rows = [...single.rows.entries()].map(([kernel, entry]) => ({
    kernel,
    ms: entry.ms,
    calls: entry.calls,
    gflops: entry.flops > 0 ? entry.flops / entry.ms / 1e6 : null,
    threadedMs: threaded?.rows.get(kernel)?.ms ?? null,
  }));
  rows.sort((a, b) => b.ms - a.ms);
  const flops = [...single.rows.values()].reduce((sum, entry) => sum + entry.flops, 0);
  const { measurePeakGflops } = await import('./peak.mjs');
  const peakGflops = await measurePeakGflops();
  return {
    runs: PROFILE_RUNS,
    total: rows.reduce((sum, row) => sum + row.ms, 0),
    threads: threaded?.threads ?? null,
    threadedTotal: threaded ? rows.reduce((sum, row) => sum + (row.threadedMs ?? 0), 0) : null,
    threadedError,
    rows,
    flops,
    peakGflops,
  };
}

/** Prints a profile from measureProfile. */
export function printProfile(profile) {
  console.log(`\nEfficientNet-B0 (simd), median of ${profile.runs} profiled runs: ${profile.total.toFixed(1)} ms in kernels on 1 thread`);
  if (profile.threads !== null) console.log(`  on ${profile.threads} threads: ${profile.threadedTotal.toFixed(1)} ms in kernels`);
  if (profile.threadedError) console.log(`  the ${MULTI_THREADS}-thread profile failed: ${profile.threadedError}`);
  console.log(`  measured multiply-add ceiling (bench/peak.mjs): ${profile.peakGflops.toFixed(1)} GFLOP/s`);
  for (const row of profile.rows) {
    const rate = row.gflops === null ? '' : `  ${row.gflops.toFixed(1)} GFLOP/s (${((100 * row.gflops) / profile.peakGflops).toFixed(0)} % of the ceiling)`;
    const threaded = row.threadedMs === null ? '' : `  ${profile.threads} threads ${row.threadedMs.toFixed(2)} ms (${(row.ms / row.threadedMs).toFixed(2)}x)`;
    console.log(`  ${row.kernel.padEnd(22)} ${row.ms.toFixed(2).padStart(8)} ms  ${((100 * row.ms) / profile.total).toFixed(1).padStart(5)} %  ${row.calls} calls${rate}${threaded}`);
  }
}
