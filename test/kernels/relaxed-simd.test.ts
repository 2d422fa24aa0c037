/**
 * The relaxed-SIMD kernel build: 'auto' selects it where the runtime validates
 * relaxed SIMD, it reports itself, and it fuses multiply-adds. The exactness
 * sweeps of the other kernel tests run it against the f64 references with the
 * same tolerances (test/support/buffers.ts adds it to BUILDS when the runtime
 * supports it).
 */
import { describe, expect, test } from 'vitest';

import { KernelInstance, resolveWasmPath, wasmSupport } from '../../src/wasm/instantiate.js';
import { Arena } from '../support/buffers.js';
import { defaultBuildFor } from '../support/wasm-builds.js';

const support = wasmSupport();

describe('relaxed-simd build selection', () => {
  test('auto follows the probes', async () => {
    const expected = defaultBuildFor(support);
    expect(support.path).toBe(expected);
    expect(resolveWasmPath('auto')).toBe(expected);
    expect((await KernelInstance.create()).path).toBe(expected);
  });

  test('auto picks relaxed SIMD here', () => {
    // vitest.config.ts starts the workers so that relaxed SIMD validates (Node 20 needs a flag for it).
    expect(support.relaxedSimd).toBe(true);
    expect(resolveWasmPath('auto')).toBe('relaxed-simd');
  });
});

describe.skipIf(!support.relaxedSimd)('relaxed-simd build', () => {
  test('instance reports the relaxed build', async () => {
    const kernels = await KernelInstance.create('relaxed-simd');
    expect(kernels.path).toBe('relaxed-simd');
    expect(kernels.exports.relaxedSimdBuild()).toBe(1);
    expect(kernels.exports.simdBuild()).toBe(1);
  });

  test('simd build reports no relaxed SIMD', async () => {
    const kernels = await KernelInstance.create('simd');
    expect(kernels.exports.relaxedSimdBuild()).toBe(0);
  });

  // With a = b = 1 + 2^-12 and bias -1: a * b = 1 + 2^-11 + 2^-24 exactly. Rounded to f32
  // first (a tie, to even) it is 1 + 2^-11, so a multiply then an add gives 2^-11. A fused
  // multiply-add keeps the 2^-24.
  // NOTE: relaxed_madd may round twice on a CPU without fused multiply-add. This test
  // expects the fused result, which V8 gave on the x64 (FMA3) test machine.
  test('gemm fuses the multiply-add', async () => {
    const value = 1 + 2 ** -12;
    const results: Record<string, number> = {};
    for (const build of ['simd', 'relaxed-simd'] as const) {
      const arena = await Arena.create(build);
      const k = 1;
      const n = 8;
      const source = arena.input('b', new Float32Array(k * n).fill(value));
      const packed = arena.output('packed', arena.exports.gemm_packed_size(k, n));
      arena.exports.gemm_pack_f32(source, k, n, packed);
      const a = arena.input('a', new Float32Array(4 * k).fill(value));
      const bias = arena.input('bias', new Float32Array(n).fill(-1));
      const output = arena.output('output', 4 * n);
      arena.exports.gemm_f32(a, 4, k, packed, n, bias, output, 0, 0, 0);
      const values = arena.read(output, 4 * n);
      expect(new Set(values).size, `${build}: every output equal`).toBe(1);
      results[build] = values[0];
    }
    expect(results.simd).toBe(2 ** -11);
    expect(results['relaxed-simd']).toBe(2 ** -11 + 2 ** -24);
  });
});
