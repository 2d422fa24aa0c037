// Measures the wasm SIMD multiply-add ceiling of this machine: a loop of 12
// independent f32x4 multiply-then-add chains, compiled from AssemblyScript at
// run time, so that GEMM and whole-network throughput can be given as a share
// of it. 8, 10 and 14 chains, and a variant that loads one operand, measured
// less here.
import asc from 'assemblyscript/asc';

const CHAINS = 12;
const ITERATIONS = 1_000_000;

const chains = Array.from({ length: CHAINS }, (_, i) => `a${i}`);

// Each iteration does 12 f32x4.mul and 12 f32x4.add: 12 * 8 = 96 FLOPs.
const SOURCE = `
export function madd(iterations: i32, seed: f32): f32 {
  const x = f32x4.splat(seed);
  const y = f32x4.splat(0.999);
${chains.map((name, i) => `  let ${name} = f32x4.splat(<f32>${i + 1});`).join('\n')}
  for (let i = 0; i < iterations; i++) {
${chains.map((name) => `    ${name} = f32x4.add(f32x4.mul(${name}, y), x);`).join('\n')}
  }
  const sum = ${chains.reduce((left, right) => `f32x4.add(${left}, ${right})`)};
  return f32x4.extract_lane(sum, 0);
}
`;

/**
 * Returns the measured ceiling in GFLOP/s: the fastest of `rounds` runs of one
 * million iterations (about 3 ms each here), after a warm-up that lets V8
 * optimize the loop. A ceiling takes the fastest run, since a run can only be
 * slowed by the rest of the machine: medians here ranged from 27 to 35 GFLOP/s.
 */
export async function measurePeakGflops({ rounds = 30 } = {}) {
  const { binary, stderr } = await asc.compileString(SOURCE, { optimizeLevel: 3, runtime: 'stub', enable: ['simd'], noAssert: true });
  if (!binary) throw new Error(`Failed to compile the multiply-add loop of bench/peak.mjs: ${stderr.toString()}`);
  const { instance } = await WebAssembly.instantiate(binary, { env: { abort() {} } });
  const madd = instance.exports.madd;

  let checksum = 0;
  for (let i = 0; i < 20; i++) checksum += madd(100_000, 0.5);
  const rates = [];
  for (let round = 0; round < rounds; round++) {
    const start = performance.now();
    checksum += madd(ITERATIONS, 0.5);
    const ms = performance.now() - start;
    rates.push((ITERATIONS * CHAINS * 8) / ms / 1e6);
  }
  // Reading the results keeps the loop from being optimized away, and a non-finite sum would mean a broken loop.
  if (!Number.isFinite(checksum)) throw new Error(`The multiply-add loop of bench/peak.mjs returned a non-finite sum (${checksum}).`);
  return Math.max(...rates);
}
