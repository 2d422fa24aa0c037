// Whole-network latency of this package, single-threaded, batch 1.
//
//   npm run build && npm run bench [-- --min-ms=2000]
//
// Runs EfficientNet-B0 with seeded random weights at 224x224 on the SIMD and
// scalar kernel builds, and the fixture TFLite models (../shared/fixtures) when
// present. Each network reports load time, the first run apart from the steady
// state, then the median and spread (min..max) of runs repeated for at least
// --min-ms. Every run reads its output, so no run can be skipped.
// With --profile, it prints where the time of one B0 run goes, per kernel.
// The side-by-side comparison with TensorFlow.js and onnxruntime is not part of this script yet.
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const entry = path.join(root, 'dist', 'index.js');
if (!existsSync(entry)) {
  console.error(`${entry} is missing: run "npm run build" first.`);
  process.exit(1);
}
const { createModel, efficientNetArchitecture, loadModel, randomGraph } = await import(entry);

const minMsArgument = process.argv.find((arg) => arg.startsWith('--min-ms='));
const minMs = minMsArgument ? Number(minMsArgument.slice('--min-ms='.length)) : 2000;
if (!(minMs > 0)) {
  console.error(`Invalid --min-ms: expected a positive number of milliseconds, but got ${minMsArgument}.`);
  process.exit(1);
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

async function measure(name, build, load) {
  const loadStart = performance.now();
  const model = await load(build);
  const loadMs = performance.now() - loadStart;
  const { height, width } = model.info.inputSize;
  const input = new Float32Array(height * width * 3);
  // Pixel-space models take 0-255 values; the others take normalized values.
  const [offset, amplitude] = model.info.inputSpace === 'pixels' ? [128, 127] : [0, 1];
  for (let i = 0; i < input.length; i++) input[i] = offset + amplitude * Math.sin(i * 0.001);

  let checksum = 0;
  const firstStart = performance.now();
  checksum += model.predict(input)[0];
  const firstMs = performance.now() - firstStart;

  const times = [];
  const until = performance.now() + minMs;
  while (performance.now() < until || times.length < 5) {
    const start = performance.now();
    checksum += model.predict(input)[0];
    times.push(performance.now() - start);
  }
  const memoryMiB = model.info.memoryBytes / 1048576;
  model.dispose();
  if (!Number.isFinite(checksum)) throw new Error(`${name} (${build}) produced a non-finite output.`);
  console.log(
    [
      name.padEnd(34),
      build.padEnd(7),
      `load ${loadMs.toFixed(0).padStart(5)} ms`,
      `first ${firstMs.toFixed(1).padStart(7)} ms`,
      `median ${median(times).toFixed(1).padStart(7)} ms`,
      `(${Math.min(...times).toFixed(1)}..${Math.max(...times).toFixed(1)}, ${times.length} runs)`,
      `wasm memory ${memoryMiB.toFixed(1)} MiB`,
    ].join('  '),
  );
}

const b0 = {
  name: 'efficientnet-b0',
  format: 'builtin',
  graph: randomGraph(efficientNetArchitecture('b0'), 1),
  labels: null,
  normalization: { mean: [0, 0, 0], std: [1, 1, 1] },
  quantized: false,
};
const fixtures = path.resolve(root, '..', 'shared', 'fixtures', 'models');

console.log(`Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores, one thread`);
console.log(`command: node bench/run.mjs --min-ms=${minMs}`);
for (const build of ['simd', 'scalar']) {
  await measure('EfficientNet-B0 random, float32', build, (wasmPath) => createModel(b0, { wasmPath }));
  for (const file of ['efficientnet_lite0_flowers_int8.tflite', 'mobilenet_v2_1.0_224_quant.tflite']) {
    const model = path.join(fixtures, file);
    if (existsSync(model)) await measure(file, build, (wasmPath) => loadModel(model, { wasmPath }));
  }
}
if (!existsSync(fixtures)) console.log(`(fixture models skipped: ${fixtures} is absent)`);

if (process.argv.includes('--profile')) {
  const { GraphExecutor } = await import(path.join(root, 'dist', 'graph', 'executor.js'));
  const { KernelInstance } = await import(path.join(root, 'dist', 'wasm', 'instantiate.js'));
  const executor = new GraphExecutor(await KernelInstance.create('simd'), b0.graph, { quantizationGrid: false });
  const input = new Float32Array(224 * 224 * 3).map((_, i) => Math.sin(i * 0.001));
  for (let i = 0; i < 5; i++) executor.run(input, 224, 224);
  const rows = executor.profile(input, 224, 224);
  const total = rows.reduce((sum, row) => sum + row.ms, 0);
  console.log(`\nEfficientNet-B0 (simd), one profiled run: ${total.toFixed(1)} ms in kernels`);
  for (const row of rows) {
    console.log(`  ${row.kernel.padEnd(22)} ${row.ms.toFixed(2).padStart(8)} ms  ${((100 * row.ms) / total).toFixed(1).padStart(5)} %  ${row.calls} calls`);
  }
}
