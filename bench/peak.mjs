// Measures the wasm SIMD multiply-add ceiling of this machine: a loop of 12
// independent f32x4 multiply-then-add chains, compiled from AssemblyScript at
// run time, so GEMM and whole-network throughput can be given as a share of it.
import asc from 'assemblyscript/asc';

const CHAINS = 12;

// Each iteration does 12 f32x4.mul and 12 f32x4.add: 12 * 8 = 96 FLOPs.
const SOURCE = `
export function madd(iterations: i32, seed: f32): f32 {
  const x = f32x4.splat(seed);
  const y = f32x4.splat(0.999);
${Array.from({ length: CHAINS }, (_, i) => `  let a${i} = f32x4.splat(<f32>${i + 1});`).join('\n')}
  for (let i = 0; i < iterations; i++) {
${Array.from({ length: CHAINS }, (_, i) => `    a${i} = f32x4.add(f32x4.mul(a${i}, y), x);`).join('\n')}
  }
  let sum = ${Array.from({ length: CHAINS }, (_, i) => `a${i}`).join(', ')};
  return f32x4.extract_lane(sum, 0);
}
`.replace('let sum = ' + Array.from({ length: CHAINS }, (_, i) => `a${i}`).join(', ') + ';', `const sum = ${Array.from({ length: CHAINS }, (_, i) => `a${i}`).reduce((left, right) => `f32x4.add(${left}, ${right})`)};`);

/**
 * Returns the measured ceiling in GFLOP/s: the median of rounds of at least
 * 20 ms each, after a warm-up that lets V8 optimize the loop.
 */
export async function measurePeakGflops({ rounds = 9 } = {}) {
  const { binary, stderr } = await asc.compileString(SOURCE, { optimizeLevel: 3, runtime: 'stub', enable: ['simd'], noAssert: true });
  if (!binary) throw new Error(`Failed to compile the peak loop: ${stderr.toString()}`);
  const { instance } = await WebAssembly.instantiate(binary, { env: { abort() {} } });
  const madd = instance.exports.madd;
  let checksum = 0;
  for (let i = 0; i < 20; i++) checksum += madd(100_000, 0.5);
  const iterations = 1_000_000;
  const rates = [];
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    checksum += madd(iterations, 0.5);
    const ms = performance.now() - start;
    rates.push((iterations * CHAINS * 8) / ms / 1e6);
  }
  if (!Number.isFinite(checksum)) throw new Error('The peak loop produced a non-finite checksum.');
  rates.sort((a, b) => a - b);
  return rates[Math.floor(rates.length / 2)];
}
