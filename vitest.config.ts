import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Whole-network comparisons against TensorFlow.js's CPU backend take minutes
    // on 2 cores; this timeout only stops a hung test and asserts nothing about speed.
    testTimeout: 20 * 60 * 1000,
    hookTimeout: 20 * 60 * 1000,
    pool: 'forks',
    // Node 20 validates relaxed SIMD only with this V8 flag; the kernel tests then
    // run the relaxed-SIMD build too (test/support/buffers.ts).
    poolOptions: { forks: { execArgv: ['--experimental-wasm-relaxed-simd'] } },
  },
});
