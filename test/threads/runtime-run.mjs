// Runs a small random model on threads in Node, Deno or Bun, from a project
// that depends on the package, and prints one JSON line for runtimes.test.ts.
//
//   <runtime> runtime-run.mjs <numThreads> [dispose|keep]
//
// With 'keep', the model is never disposed, and the process must still exit.
import * as effnet from 'efficientnet-wasm';
// The pool's worker count is not part of the package's exports, so it is read from the built file.
import { poolWorkerCount } from './node_modules/efficientnet-wasm/dist/wasm/threads.js';

const args = typeof Deno !== 'undefined' ? Deno.args : process.argv.slice(2);
const numThreads = args[0] === 'auto' ? 'auto' : Number(args[0]);
const keep = args[1] === 'keep';

// Records the URL scheme of every Web Worker the package starts (none in Node, which uses worker_threads).
const workerSchemes = [];
const NativeWorker = globalThis.Worker;
if (typeof NativeWorker === 'function') {
  globalThis.Worker = class extends NativeWorker {
    constructor(url, options) {
      workerSchemes.push(String(url).split(':')[0]);
      super(url, options);
    }
  };
}
const warnings = [];
console.warn = (message) => warnings.push(String(message));

const architecture = effnet.efficientNetArchitecture('b0', { numClasses: 10, scaling: { width: 0.25, depth: 0.34, resolution: 33 } });
const graph = effnet.randomGraph(architecture, 5, { gain: 2 });
graph.inputHeight = null;
graph.inputWidth = null;
const description = {
  name: 'small any-size',
  format: 'builtin',
  graph,
  labels: null,
  normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
  quantized: false,
};
// The plain SIMD build, so that every runtime runs the same instructions and gives the same bits.
const model = await effnet.createModel(description, { numThreads, wasmPath: 'simd' });

const input = new Float32Array(57 * 43 * 3);
for (let i = 0; i < input.length; i++) input[i] = Math.sin(i * 0.37);
const output = model.predict(input, { height: 57, width: 43 });
const data = new Uint8Array(64 * 48 * 3);
for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 256;
const top5 = (await model.classify({ data, width: 64, height: 48, channels: 3 }, { topK: 5 })).predictions;

const threads = model.info.threads;
const workersWhileLoaded = poolWorkerCount();
if (!keep) model.dispose();
console.log(
  JSON.stringify({
    threads,
    workerSchemes,
    workersWhileLoaded,
    workersAtEnd: poolWorkerCount(),
    outputBits: Array.from(new Uint32Array(output.buffer, output.byteOffset, output.length)),
    top5,
    warnings,
  }),
);
