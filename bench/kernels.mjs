// Kernel throughput on EfficientNet-B0 layer shapes, single-threaded.
//
//   npm run build:wasm && node bench/kernels.mjs [simd|scalar] [--min-ms=300] [--only=gemm]
//
// Loads build/kernels-<build>.wasm (written by npm run build:wasm), fills the
// operands with seeded random values, then for each shape times one first run
// and then repeated runs for at least --min-ms. It prints the first run apart,
// then median and spread (min..max) in ms and GFLOP/s from the median. FLOPs
// count one multiply and one add per multiply-accumulate and leave out the
// fused activation, except in the activation case, which counts one per element.
// Each run reads one output value back, so no run can be skipped.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { measurePeakGflops } from './peak.mjs';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const build = process.argv.find((arg) => arg === 'simd' || arg === 'scalar') ?? 'simd';
const minMsArg = process.argv.find((arg) => arg.startsWith('--min-ms='));
const minMs = minMsArg ? Number(minMsArg.slice('--min-ms='.length)) : 300;
const onlyArg = process.argv.find((arg) => arg.startsWith('--only='));
// Runs only the shapes whose printed name starts with this text, e.g. gemm, dwconv or stem.
const only = onlyArg ? onlyArg.slice('--only='.length) : '';
if (!(minMs > 0)) {
  console.error(`Invalid --min-ms: expected a positive number of milliseconds, but got ${minMsArg}.`);
  process.exit(1);
}

const SWISH = 3;
const LINEAR = 0;

const wasmPath = path.join(root, 'build', `kernels-${build}.wasm`);
let bytes;
try {
  bytes = readFileSync(wasmPath);
} catch (error) {
  console.error(`Failed to read ${wasmPath}: ${error.message}. Run npm run build:wasm first.`);
  process.exit(1);
}
const { instance } = await WebAssembly.instantiate(bytes, {
  env: {
    abort() {
      throw new Error('A wasm kernel aborted.');
    },
  },
});
const kernels = instance.exports;

let top = Math.ceil(kernels.heapBase() / 16) * 16;
let seed = 12345;
function random() {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
function allocF32(count, fill = true) {
  const pointer = top;
  top = Math.ceil((pointer + count * 4 + 64) / 16) * 16;
  const missing = top - kernels.memory.buffer.byteLength;
  if (missing > 0) kernels.memory.grow(Math.ceil(missing / 65536));
  if (fill) {
    const view = new Float32Array(kernels.memory.buffer, pointer, count);
    for (let i = 0; i < count; i++) view[i] = random() * 2 - 1;
  }
  return pointer;
}
function readBack(pointer) {
  return new Float32Array(kernels.memory.buffer, pointer, 1)[0];
}

function selected(name) {
  return name.startsWith(only);
}

function measure(run, output) {
  let start = performance.now();
  run();
  let checksum = readBack(output);
  const first = performance.now() - start;
  const times = [];
  const deadline = performance.now() + minMs;
  while (performance.now() < deadline || times.length < 5) {
    start = performance.now();
    run();
    checksum += readBack(output);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return { first, median: times[times.length >> 1], min: times[0], max: times[times.length - 1], runs: times.length, checksum };
}

function report(name, flops, result) {
  const gflops = flops / (result.median * 1e6);
  console.log(
    `${name.padEnd(34)} first ${result.first.toFixed(3).padStart(8)} ms  median ${result.median.toFixed(3).padStart(8)} ms ` +
      `(${result.min.toFixed(3)}..${result.max.toFixed(3)}, ${String(result.runs).padStart(5)} runs)  ${gflops.toFixed(1).padStart(5)} GFLOP/s` +
      `  ${((100 * gflops) / peakGflops).toFixed(0).padStart(3)} % of the ceiling` +
      (Number.isFinite(result.checksum) ? '' : '  (non-finite output)'),
  );
}

// The measured multiply-add ceiling that each shape's GFLOP/s is compared with (see peak.mjs).
const peakGflops = await measurePeakGflops();
console.log(`${build} build, ${path.relative(root, wasmPath)}, Node ${process.version}, at least ${minMs} ms per shape`);
console.log(`measured multiply-add ceiling (bench/peak.mjs, 12 chains of f32x4 mul then add): ${peakGflops.toFixed(1)} GFLOP/s`);

/** Benchmark cases: name, FLOPs per run, and a setup that returns the run and its output pointer. */
const cases = [];

function gemmCase(m, k, n, { activation = LINEAR, residual = false, scale = false } = {}) {
  const extras = `${activation === SWISH ? ' swish' : ''}${scale ? ' +scale' : ''}${residual ? ' +residual' : ''}`;
  cases.push({
    name: `gemm ${m}x${k}x${n}${extras}`,
    flops: 2 * m * k * n,
    setup() {
      const a = allocF32(m * k);
      const b = allocF32(k * n);
      const packed = allocF32(kernels.gemm_packed_size(k, n), false);
      kernels.gemm_pack_f32(b, k, n, packed);
      const bias = allocF32(n);
      const residualPointer = residual ? allocF32(m * n) : 0;
      const scalePointer = scale ? allocF32(k) : 0;
      const output = allocF32(m * n, false);
      return { output, run: () => kernels.gemm_f32(a, m, k, packed, n, bias, output, activation, residualPointer, scalePointer) };
    },
  });
}

// 1x1 convolutions of EfficientNet-B0 as [M = output pixels, K, N].
for (const [m, k, n] of [
  [112 * 112, 32, 16],
  [112 * 112, 16, 96],
  [56 * 56, 24, 144],
  [56 * 56, 144, 24],
  [28 * 28, 40, 240],
  [28 * 28, 240, 40],
  [14 * 14, 80, 480],
  [14 * 14, 480, 112],
  [14 * 14, 672, 112],
  [7 * 7, 192, 1152],
  [7 * 7, 1152, 320],
  [7 * 7, 320, 1280],
]) {
  gemmCase(m, k, n);
}
gemmCase(14 * 14, 672, 112, { residual: true, scale: true });
gemmCase(112 * 112, 16, 96, { activation: SWISH });

// Depthwise convolutions as [input size, channels, kernel, stride] with SAME padding.
for (const [size, channels, kernel, stride] of [
  [112, 32, 3, 1],
  [112, 96, 3, 2],
  [56, 144, 5, 2],
  [28, 240, 3, 2],
  [14, 672, 5, 1],
  [7, 1152, 3, 1],
]) {
  const out = Math.ceil(size / stride);
  const pad = Math.floor(Math.max((out - 1) * stride + kernel - size, 0) / 2);
  cases.push({
    name: `dwconv ${size}x${size}x${channels} k${kernel} s${stride} swish`,
    flops: 2 * out * out * channels * kernel * kernel,
    setup() {
      const input = allocF32(size * size * channels);
      const weight = allocF32(kernel * kernel * channels);
      const bias = allocF32(channels);
      const output = allocF32(out * out * channels, false);
      return {
        output,
        run: () => kernels.dwconv2d_f32(input, size, size, channels, weight, bias, output, out, out, kernel, stride, pad, pad, SWISH),
      };
    },
  });
}

cases.push({
  name: 'stem conv 224x224x3->32 k3 s2 swish',
  flops: 2 * 112 * 112 * 32 * 27,
  setup() {
    const input = allocF32(224 * 224 * 3);
    const weight = allocF32(3 * 3 * 3 * 32);
    const bias = allocF32(32);
    const output = allocF32(112 * 112 * 32, false);
    return { output, run: () => kernels.conv2d_f32(input, 224, 224, 3, weight, bias, output, 112, 112, 32, 3, 2, 0, 0, SWISH) };
  },
});

// Swish in place over the largest B0 expanded map; FLOPs here count one per element.
cases.push({
  name: 'activation swish 112x112x96',
  flops: 112 * 112 * 96,
  setup() {
    const count = 112 * 112 * 96;
    const data = allocF32(count);
    return { output: data, run: () => kernels.activation_f32(data, count, SWISH) };
  },
});

for (const benchCase of cases) {
  if (!selected(benchCase.name)) continue;
  const { run, output } = benchCase.setup();
  report(benchCase.name, benchCase.flops, measure(run, output));
}
console.log(`wasm memory at the end: ${(kernels.memory.buffer.byteLength / 2 ** 20).toFixed(1)} MiB`);
