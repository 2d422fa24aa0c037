import { describe, expect, it } from 'vitest';
import { hasWasmSimd } from '../../src/wasm/features.js';
import { KernelInstance } from '../../src/wasm/instantiate.js';

describe('wasm feature probe', () => {
  it('detects SIMD on Node 20', () => {
    expect(hasWasmSimd()).toBe(true);
  });

  it.each([
    ['simd', 1],
    ['scalar', 0],
  ] as const)('simdBuild() of the %s build returns %i', async (path, expected) => {
    const kernels = await KernelInstance.create(path);
    expect(kernels.path).toBe(path);
    expect(kernels.exports.simdBuild()).toBe(expected);
  });
});
