/**
 * `effnet bench`: times predict() on a seeded synthetic input and reports the
 * first run apart from the steady state. Without a model it builds
 * EfficientNet-B0 with seeded random weights, so it needs no download.
 */
import { efficientNetArchitecture, randomGraph, seededRandom } from '../graph/configs.js';
import type { ModelDescription } from '../graph/spec.js';
import { createModel, type LoadModelOptions, type Model } from '../model.js';
import type { WasmPath } from '../wasm/instantiate.js';
import { loadModelWithProgress } from './progress.js';

export interface BenchOptions {
  /** Registry name, file or URL; undefined builds EfficientNet-B0 with random weights. */
  model?: string;
  /** Timed runs after the first run and the warmup runs. */
  runs: number;
  /** Untimed runs between the first run and the timed runs. */
  warmup: number;
  /** Input size; default the model's own, or 224x224 for a model that accepts any size. */
  size: { height: number; width: number } | null;
  wasm: WasmPath | 'auto';
  threads: number | 'auto';
  /** Images per timed run, given to predictBatch as one batch. */
  batch: number;
  quantizationGrid: boolean;
}

export interface BenchResult {
  model: string;
  /** 'builtin' for the random-weight B0, else the --model value. */
  source: string;
  format: string;
  inputSize: { height: number; width: number };
  /** Value range of the synthetic input: 0-255 'pixels' or 'normalized' values. */
  inputSpace: 'pixels' | 'normalized';
  /** Kernel build that ran: 'relaxed-simd', 'simd' or 'scalar'. */
  wasmPath: WasmPath;
  /** Threads that ran each layer, the calling thread included. */
  threads: number;
  /** Images per run. */
  batch: number;
  /** Loading (or building) and preparing the model, including any download. */
  loadMs: number;
  /** The first predict(), which also touches every weight and activation buffer once. */
  firstRunMs: number;
  warmupRuns: number;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  meanMs: number;
  /** batch * 1000 / medianMs. */
  imagesPerSecond: number;
  /** Every timed run, in order. */
  timesMs: number[];
}

/** Seed of the random weights and of the synthetic input, so runs are repeatable. */
const SEED = 1;
/** Input size for a model without a fixed one. */
const DEFAULT_SIZE = 224;

/** Loads or builds the model, runs it and returns the timings. */
export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const loadOptions: LoadModelOptions = {
    wasmPath: options.wasm,
    numThreads: options.threads,
    quantizationGrid: options.quantizationGrid,
  };
  const loadStart = performance.now();
  const model = options.model === undefined
    ? await createModel(randomB0(options.size), loadOptions)
    : await loadModelWithProgress(options.model, loadOptions);
  const loadMs = performance.now() - loadStart;
  try {
    return measure(model, options, loadMs);
  } finally {
    model.dispose();
  }
}

/** EfficientNet-B0 with seeded random weights (gain 2 keeps the swish blocks' output input-dependent). */
function randomB0(size: BenchOptions['size']): ModelDescription {
  const graph = randomGraph(efficientNetArchitecture('b0'), SEED, { gain: 2 });
  if (size) {
    graph.inputHeight = size.height;
    graph.inputWidth = size.width;
  }
  return {
    name: 'efficientnet-b0 (seeded random weights)',
    format: 'builtin',
    graph,
    labels: null,
    normalization: { mean: [127.5, 127.5, 127.5], std: [127.5, 127.5, 127.5] },
    quantized: false,
  };
}

function measure(model: Model, options: BenchOptions, loadMs: number): BenchResult {
  const info = model.info;
  const size = inputSize(info.name, info.inputSize, options.size);
  const input = syntheticInput(size, info.inputSpace, info.normalization);
  const inputs = Array.from({ length: options.batch }, () => input);
  const run = options.batch === 1 ? () => [model.predict(input, size)] : () => model.predictBatch(inputs, size);

  const firstStart = performance.now();
  const outputs = run();
  const firstRunMs = performance.now() - firstStart;
  for (const output of outputs) {
    const bad = output.findIndex((value) => !Number.isFinite(value));
    if (bad >= 0) {
      throw new Error(`${info.name} produced a non-finite output (${output[bad]} at index ${bad}) on the synthetic input; the weights may be corrupt.`);
    }
  }
  for (let i = 0; i < options.warmup; i++) run();
  const timesMs: number[] = [];
  for (let i = 0; i < options.runs; i++) {
    const start = performance.now();
    run();
    timesMs.push(performance.now() - start);
  }

  const sorted = [...timesMs].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const medianMs = sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return {
    model: info.name,
    source: options.model ?? 'builtin',
    format: info.format,
    inputSize: size,
    inputSpace: info.inputSpace,
    wasmPath: info.wasmPath,
    threads: info.threads,
    batch: options.batch,
    loadMs,
    firstRunMs,
    warmupRuns: options.warmup,
    runs: options.runs,
    medianMs,
    minMs: sorted[0],
    maxMs: sorted[sorted.length - 1],
    meanMs: timesMs.reduce((sum, time) => sum + time, 0) / timesMs.length,
    imagesPerSecond: (options.batch * 1000) / medianMs,
    timesMs,
  };
}

function inputSize(
  name: string,
  fixed: { height: number; width: number } | null,
  requested: BenchOptions['size'],
): { height: number; width: number } {
  if (!requested) return fixed ?? { height: DEFAULT_SIZE, width: DEFAULT_SIZE };
  if (fixed && (fixed.height !== requested.height || fixed.width !== requested.width)) {
    throw new Error(
      `Invalid --size: ${name} takes ${fixed.height}x${fixed.width} input, but got ${requested.height}x${requested.width}. ` +
        'Leave --size out for this model.',
    );
  }
  return requested;
}

/** Returns a seeded random image [1, H, W, 3] in the model's input space. */
function syntheticInput(
  size: { height: number; width: number },
  space: 'pixels' | 'normalized',
  normalization: { mean: number[]; std: number[] },
): Float32Array {
  const random = seededRandom(SEED);
  const input = new Float32Array(size.height * size.width * 3);
  for (let i = 0; i < input.length; i++) {
    const pixel = Math.floor(random() * 256);
    const channel = i % 3;
    input[i] = space === 'pixels' ? pixel : (pixel - normalization.mean[channel]) / normalization.std[channel];
  }
  return input;
}

/** Formats a thread count: "1 thread", "4 threads". */
export function threadCount(threads: number): string {
  return `${threads} thread${threads === 1 ? '' : 's'}`;
}

/** Formats a result as aligned text lines. */
export function formatBench(result: BenchResult): string {
  const ms = (value: number) => `${value.toFixed(1)} ms`;
  const rows: [string, string][] = [
    ['model', result.source === 'builtin' ? `${result.model}, built in` : `${result.model} (${result.source})`],
    ['input', `${result.batch}x${result.inputSize.height}x${result.inputSize.width}x3, synthetic`],
    ['wasm path', `${result.wasmPath}, ${threadCount(result.threads)}`],
    ['load', ms(result.loadMs)],
    ['first run', ms(result.firstRunMs)],
    ['runs', `${result.runs} timed, after ${result.warmupRuns} warmup`],
    ['median', ms(result.medianMs)],
    ['min / max', `${result.minMs.toFixed(1)} / ${result.maxMs.toFixed(1)} ms`],
    ['throughput', `${result.imagesPerSecond.toFixed(1)} images/s`],
  ];
  return rows.map(([key, value]) => `${key.padEnd(12)}${value}`).join('\n');
}
